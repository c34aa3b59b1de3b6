//! The `srrd` binary: the workstation with no arguments, subcommands otherwise.

use clap::Parser;

fn main() {
    let cli = srrd::cli::Cli::parse();
    if let Err(e) = srrd::cli::run(cli) {
        // One line, no backtrace: the error already names the file and the problem.
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
