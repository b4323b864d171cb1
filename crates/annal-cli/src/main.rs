//! The `annal` binary: everything lives in the library's [`annal_cli::run`].

fn main() -> std::process::ExitCode {
    annal_cli::run()
}
