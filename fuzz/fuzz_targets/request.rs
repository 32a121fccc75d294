//! AFL++ entry point of the `request` target: each input goes to [`llmtel_fuzz::request::run`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        llmtel_fuzz::request::run(data);
    });
}
