//! Builds the search index of the embedded keyword dictionary (src/enrich/dictionary_index.rs
//! says why and how), so the running process builds nothing and holds no copy of it.

mod dictionary_index {
    include!("src/enrich/dictionary_index.rs");
}

fn main() {
    let source = "src/enrich/dictionary.txt";
    println!("cargo::rerun-if-changed={source}");
    println!("cargo::rerun-if-changed=src/enrich/dictionary_index.rs");
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("reading {source}: {e}"));
    let index = dictionary_index::build_index(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
    let out = std::path::Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("dictionary.index");
    std::fs::write(&out, index).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
