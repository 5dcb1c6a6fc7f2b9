//! Embeds the sample policies and users so `kac demo` works from any
//! directory, not only from a checkout.
use std::fmt::Write;

fn main() {
    // The manifest dir at run time, not env!() at the build script's compile
    // time: a build script binary is reused across checkouts that share a
    // target dir, and a compiled-in path would point at the wrong one.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&manifest).join("../samples");
    let mut out = String::from("/// (file name, contents) of samples/policies/*.yaml.\npub const SAMPLE_POLICIES: &[(&str, &str)] = &[\n");
    let dir = root.join("policies");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples/policies")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            p.canonicalize().unwrap().display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("samples.rs");
    std::fs::write(dest, out).unwrap();
}
