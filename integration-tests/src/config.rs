//! Configs for llmtel under test: the built-in one with every listener on port 0, and temporary config files for
//! the binary.

/// llmtel's built-in config with every listener on port 0, so a test or benchmark can run it beside anything.
pub fn default_config_on_port_zero() -> String {
    let mut yaml = llmtel_config::DEFAULT_CONFIG_YAML.to_owned();
    for port in ["11435", "9464", "4317", "4318", "8888"] {
        let from = format!("127.0.0.1:{port}");
        assert!(yaml.contains(&from), "default.yaml no longer has {from}");
        yaml = yaml.replace(&from, "127.0.0.1:0");
    }
    yaml
}

/// A temporary `.yaml` file holding `text` (a config for the binary); removed when dropped.
pub fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .unwrap_or_else(|e| panic!("create a temporary file: {e}"));
    std::fs::write(f.path(), text).unwrap_or_else(|e| panic!("write {}: {e}", f.path().display()));
    f
}
