//! The kac-audit command line.
pub fn main() -> i32 {
    eprintln!("not built yet");
    2
}
