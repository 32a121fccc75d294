//! AFL++ entry point of the `stream` target: each input goes to [`llmtel_fuzz::stream::run`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        llmtel_fuzz::stream::run(data);
    });
}
