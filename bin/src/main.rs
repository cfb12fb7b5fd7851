//! `wrt-train`: see `wrt_cli` (bin/src/lib.rs) and docs/cli.md.

fn main() {
    let mut args = Vec::new();
    for (i, a) in std::env::args_os().enumerate() {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(a) => {
                eprintln!("error: argument {i} ({}) is not valid UTF-8", a.to_string_lossy());
                std::process::exit(2);
            }
        }
    }
    std::process::exit(wrt_cli::main_with_args(args));
}
