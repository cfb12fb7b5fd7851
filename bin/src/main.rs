fn main() {
    eprintln!("wrt-train: the training CLI arrives with the training-engine issue");
    std::process::exit(2);
}
