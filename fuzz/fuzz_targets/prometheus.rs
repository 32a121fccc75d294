//! AFL++ entry point of the `prometheus` target: each input goes to [`llmtel_fuzz::prometheus::run`].

fn main() {
    afl::fuzz!(|data: &[u8]| {
        llmtel_fuzz::prometheus::run(data);
    });
}
