//! AFL++ entry point of the `otlp` target: each input goes to [`llmtel_fuzz::otlp::run`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        llmtel_fuzz::otlp::run(data);
    });
}
