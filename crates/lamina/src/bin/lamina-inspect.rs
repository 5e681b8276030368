//! `lamina-inspect FILE`: lists the entries of a lamina checkpoint or a
//! safetensors file (name, element type, shape, bytes, first values). On a
//! bad file it prints the loader's error and exits with status 1.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: lamina-inspect FILE   (a .lamina checkpoint or a .safetensors file)");
        return ExitCode::from(2);
    };
    match lamina::checkpoint::inspect(path) {
        Ok(info) => {
            print!("{path}: {info}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lamina-inspect: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
