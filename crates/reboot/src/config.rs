//! stub
/// stub
pub fn env_var_name(flag: &str) -> String {
    format!("KURED_{}", flag.to_ascii_uppercase().replace('-', "_"))
}
