//! Builds the fake NVML (`fake-nvml/fake_nvml.c`) as `$OUT_DIR/fake-nvml/libnvidia-ml.so.1`, with a
//! `libnvidia-ml.so` link beside it, and tells the tests where it is (`FAKE_NVML_DIR`). The real `llmtel` loads it
//! through `LD_LIBRARY_PATH` in `tests/gpu_nvml.rs`, so the `nvml-wrapper` path runs on machines without a GPU.
//! Off Linux there is nothing to build (NVML there is `nvml.dll`) and `FAKE_NVML_DIR` is empty.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "fake-nvml/fake_nvml.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        println!("cargo:rustc-env=FAKE_NVML_DIR=");
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        fail("OUT_DIR is not set (cargo sets it for build scripts)");
    };
    let dir = out.join("fake-nvml");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(&format!("create {}: {e}", dir.display()));
    }
    let lib = dir.join("libnvidia-ml.so.1");
    let compiler = match cc::Build::new().cargo_metadata(false).try_get_compiler() {
        Ok(c) => c,
        Err(e) => fail(&format!("no C compiler for the fake NVML: {e}")),
    };
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-shared",
        "-fPIC",
        "-O1",
        "-Wall",
        "-Werror",
        "-fvisibility=hidden",
        "-o",
    ])
    .arg(&lib)
    .arg(source);
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("compiling {source} failed ({s})")),
        Err(e) => fail(&format!("run the C compiler on {source}: {e}")),
    }
    // nvml-wrapper 0.13 dlopens `libnvidia-ml.so.1`; other loaders (and people) ask for the unversioned name.
    let link = dir.join("libnvidia-ml.so");
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink("libnvidia-ml.so.1", &link) {
        fail(&format!("link {}: {e}", link.display()));
    }
    println!("cargo:rustc-env=FAKE_NVML_DIR={}", dir.display());
}

fn fail(why: &str) -> ! {
    eprintln!("integration-tests build script: {why}");
    std::process::exit(1);
}
