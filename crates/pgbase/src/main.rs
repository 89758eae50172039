//! `pgbase`: the binary. Parses the command line, sets up logging, and runs one command; every
//! command's work lives in the library's modules.

use std::process::ExitCode;

use clap::Parser;

use pgbase::config::LogFormat;
use pgbase::{cli, commands, config};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_postgres=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.compact().init(),
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let format = cli
        .command
        .log_format()
        .or_else(|| {
            config::Settings::from_env(|name| std::env::var(name).ok())
                .ok()
                .and_then(|s| s.log_format)
        })
        .unwrap_or_default();
    init_logging(format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.exit_code)
        }
    }
}
