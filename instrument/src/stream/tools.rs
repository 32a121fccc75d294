//! Tool calls across the frames of one response: each dialect's decoder says, per frame, what it saw of a call
//! ([`ToolFragment`]: which call, its id and name, a piece of its arguments), and [`ToolCalls`] puts the pieces
//! together into the calls the model made. Fragments come from the decoders beside this file; the calls go to the
//! request span (their number and names always, their arguments only with content capture).
//!
//! Calls are counted, not fragments: an OpenAI stream sends one call as many `delta.tool_calls` fragments with the
//! same `index`, a Responses stream as an `output_item.added` and argument deltas with the same `output_index`, an
//! Anthropic stream as a `tool_use` block and `input_json_delta`s with the same block `index`.

/// Which call a fragment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKey {
    /// A call of its own (Ollama's whole calls, a whole response's calls, an OpenAI fragment with an `id` only).
    New,
    /// The call with this index in the response, made by its first fragment.
    Index(u64),
    /// The call before (a fragment that names none), or a new one when there is none yet.
    Last,
}

/// What one frame says of one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFragment {
    /// Which call.
    pub key: ToolKey,
    /// The call's id (`id`, `call_id`), where this fragment has it.
    pub id: Option<String>,
    /// The tool's name, where this fragment has it.
    pub name: Option<String>,
    /// A piece of the arguments' JSON text (or the whole of it).
    pub arguments: String,
    /// `arguments` is the whole text (a `.done` event, a whole call) and replaces the pieces before.
    pub whole: bool,
}

impl ToolFragment {
    /// A fragment of call `key` with no id, name or arguments yet.
    pub(super) fn new(key: ToolKey) -> Self {
        Self {
            key,
            id: None,
            name: None,
            arguments: String::new(),
            whole: false,
        }
    }
}

/// One tool call the model made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    /// Its id, if the server gave one.
    pub id: Option<String>,
    /// The tool's name, if the server gave it.
    pub name: Option<String>,
    /// The arguments' JSON text, only kept with content capture.
    pub arguments: String,
}

/// The tool calls of one response, put together from its fragments.
#[derive(Debug, Clone, Default)]
pub struct ToolCalls {
    keep_arguments: bool,
    calls: Vec<(Option<u64>, ToolCall)>,
}

impl ToolCalls {
    /// An empty set; with `keep_arguments` the arguments are assembled too (they are content).
    pub fn new(keep_arguments: bool) -> Self {
        Self {
            keep_arguments,
            calls: Vec::new(),
        }
    }

    /// Adds one fragment, in stream order.
    pub fn push(&mut self, f: ToolFragment) {
        let at = match f.key {
            ToolKey::Index(i) => self.calls.iter().position(|(k, _)| *k == Some(i)),
            ToolKey::Last => self.calls.len().checked_sub(1),
            ToolKey::New => None,
        };
        let at = at.unwrap_or_else(|| {
            let index = match f.key {
                ToolKey::Index(i) => Some(i),
                _ => None,
            };
            self.calls.push((index, ToolCall::default()));
            self.calls.len() - 1
        });
        let Some((_, call)) = self.calls.get_mut(at) else {
            return;
        };
        // The first non-empty id and name win: some servers repeat them, some send empty ones later.
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if slot.is_none() {
                *slot = v.filter(|v| !v.is_empty());
            }
        };
        set(&mut call.id, f.id);
        set(&mut call.name, f.name);
        if self.keep_arguments {
            if f.whole {
                call.arguments = f.arguments;
            } else {
                call.arguments.push_str(&f.arguments);
            }
        }
    }

    /// How many calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether there were none.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls, in the order they began.
    pub fn calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.calls.iter().map(|(_, c)| c)
    }

    /// The tools' names, in call order (calls without a name left out).
    pub fn names(&self) -> Vec<String> {
        self.calls().filter_map(|c| c.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(key: ToolKey, id: Option<&str>, name: Option<&str>, args: &str) -> ToolFragment {
        ToolFragment {
            key,
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: args.to_owned(),
            whole: false,
        }
    }

    #[test]
    fn fragments_of_one_index_are_one_call_and_new_ones_are_each_a_call() {
        let mut t = ToolCalls::new(true);
        t.push(frag(ToolKey::Index(0), Some("a"), Some("get"), "{\"x\""));
        t.push(frag(ToolKey::Index(1), Some("b"), Some("put"), "{"));
        t.push(frag(ToolKey::Index(0), None, Some(""), ":1}"));
        t.push(frag(ToolKey::Last, None, None, "}"));
        t.push(frag(ToolKey::New, Some("c"), Some("get"), "{}"));
        t.push(frag(ToolKey::New, None, None, ""));
        assert_eq!(t.len(), 4);
        assert_eq!(t.names(), ["get", "put", "get"]);
        let args: Vec<&str> = t.calls().map(|c| c.arguments.as_str()).collect();
        assert_eq!(args, ["{\"x\":1}", "{}", "{}", ""]);
        let mut whole = frag(ToolKey::Index(1), None, None, "{\"y\":2}");
        whole.whole = true;
        t.push(whole);
        assert_eq!(t.calls().nth(1).unwrap().arguments, "{\"y\":2}");
        assert_eq!(t.calls().nth(1).unwrap().id.as_deref(), Some("b"));
    }

    #[test]
    fn a_continuation_first_is_a_call_and_arguments_are_not_kept_without_capture() {
        let mut t = ToolCalls::new(false);
        t.push(frag(ToolKey::Last, None, Some("f"), "{\"secret\":1}"));
        assert_eq!((t.len(), t.names()), (1, vec!["f".to_owned()]));
        assert_eq!(t.calls().next().unwrap().arguments, "");
    }
}
