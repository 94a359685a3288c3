//! ImageList files handed to the remover: a list of valid entries or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = drydock_cleaner::node::stages::parse_image_list(data, std::path::Path::new("images"));
});
