//! The prompts a load sends, in turn: the built-in `short` or `long` set, or a JSONL file with one prompt per line
//! (`{"prompt": "…"}`, or a JSON string).

use std::path::Path;

/// Short questions: a few dozen prompt tokens each.
const SHORT: &[&str] = &[
    "What is the capital of France? Answer in one sentence.",
    "Name three primary colours.",
    "Why is the sky blue? Answer briefly.",
    "Give a synonym for 'fast'.",
    "What is 17 times 23?",
    "Translate 'good morning' into Spanish.",
    "Write a haiku about autumn.",
    "What does CPU stand for?",
];

/// A long context (about 600 prompt tokens) ahead of each question: prefill weighs in.
const LONG_CONTEXT: &str = "You are reviewing an incident report. The service is a reverse proxy in front of a \
    model server. At 09:12 the p99 latency rose from 2 seconds to 19 seconds while the request rate stayed flat. \
    The GPU's utilisation stayed near 100 percent, its memory was 92 percent used, and the server's queue held up to \
    forty requests. Requests with long prompts were affected most; short prompts saw their time to first token grow \
    from 80 milliseconds to 6 seconds. At 09:31 an operator lowered the number of parallel slots from 8 to 4, and \
    at 09:40 the latency was back to normal. No errors were returned to clients, but eleven clients gave up and \
    retried, which added load. The model is a 14-billion-parameter reasoning model that thinks before it answers; \
    thinking took 70 percent of each request's time on average. The team wants to know what happened, why fewer \
    slots helped, and what to monitor. ";

const LONG_QUESTIONS: &[&str] = &[
    "Explain the most likely cause in three sentences.",
    "List three metrics that would have shown the problem early.",
    "Why would fewer parallel slots lower the latency?",
    "Write a short summary for the status page.",
];

/// The built-in prompt sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuiltIn {
    /// Short questions.
    Short,
    /// A long shared context ahead of each question.
    Long,
}

/// The prompts of a built-in set.
pub fn built_in(set: BuiltIn) -> Vec<String> {
    match set {
        BuiltIn::Short => SHORT.iter().map(|s| (*s).to_owned()).collect(),
        BuiltIn::Long => LONG_QUESTIONS
            .iter()
            .map(|q| format!("{LONG_CONTEXT}{q}"))
            .collect(),
    }
}

/// Most prompts read from a file.
const MAX_PROMPTS: usize = 100_000;

/// The prompts of a JSONL file: every error names the file and line.
pub fn from_jsonl(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--prompts {}: cannot read it: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("--prompts {}:{}: not JSON ({e})", path.display(), i + 1))?;
        let prompt = match &v {
            serde_json::Value::String(s) => Some(s.clone()),
            v => v.get("prompt").and_then(|p| p.as_str()).map(str::to_owned),
        };
        match prompt {
            Some(p) if !p.is_empty() => out.push(p),
            _ => {
                return Err(format!(
                    "--prompts {}:{}: expected {{\"prompt\": \"…\"}} or a JSON string",
                    path.display(),
                    i + 1
                ));
            }
        }
        if out.len() > MAX_PROMPTS {
            return Err(format!(
                "--prompts {}: more than {MAX_PROMPTS} prompts",
                path.display()
            ));
        }
    }
    if out.is_empty() {
        return Err(format!("--prompts {}: no prompts in it", path.display()));
    }
    Ok(out)
}
