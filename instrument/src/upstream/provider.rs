//! [`Provider`]: the `gen_ai.provider.name` one proxy's requests carry, shared between them and the upstream
//! watch that may learn it after start-up. Turning it into an attribute value reads its value at that moment.

use std::sync::{Arc, RwLock};

/// `gen_ai.provider.name` of one proxy: fixed by the config, or set by the upstream watch once it knows the
/// server. Clones share the value.
#[derive(Debug, Clone)]
pub struct Provider(Arc<RwLock<Arc<str>>>);

impl Provider {
    /// A provider reading `name` until [`Provider::set`] changes it.
    pub fn new(name: &str) -> Self {
        Self(Arc::new(RwLock::new(Arc::from(name))))
    }

    /// The name now.
    pub fn get(&self) -> Arc<str> {
        // A poisoned lock still holds a whole `Arc`: a writer only swaps it.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the name; `true` if it changed.
    pub fn set(&self, name: &str) -> bool {
        let mut cur = self.0.write().unwrap_or_else(|p| p.into_inner());
        if &**cur == name {
            return false;
        }
        *cur = Arc::from(name);
        true
    }
}

impl From<Provider> for opentelemetry::Value {
    fn from(p: Provider) -> Self {
        opentelemetry::Value::from(p.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_name_and_attributes_read_it_when_made() {
        let p = Provider::new("openai");
        let shared = p.clone();
        let before = opentelemetry::KeyValue::new("gen_ai.provider.name", shared.clone());
        assert!(p.set("llama.cpp"));
        assert!(!p.set("llama.cpp"));
        let after = opentelemetry::KeyValue::new("gen_ai.provider.name", shared.clone());
        assert_eq!(before.value.as_str(), "openai");
        assert_eq!(after.value.as_str(), "llama.cpp");
    }
}
