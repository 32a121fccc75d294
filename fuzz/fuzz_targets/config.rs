//! AFL++ entry point of the `config` target: each input goes to [`llmtel_fuzz::config::run`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        llmtel_fuzz::config::run(data);
    });
}
