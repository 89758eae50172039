//! `pgbase`: the binary. Parses the command line, sets up logging, and runs one command; every
//! command's work lives in the library's modules.

use std::process::ExitCode;

use clap::Parser;

use pgbase::config::LogFormat;
use pgbase::{cli, commands, config};

/// mimalloc instead of glibc's malloc: a request allocates a few hundred small blocks, and
/// glibc's malloc/free were a third of the CPU instructions of a REST request
/// (`bench/cpu/instructions.py`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Colours only for a person: stderr is a terminal and `NO_COLOR` is unset (or empty), as
/// <https://no-color.org> asks. Logs sent to a file or a pipe stay plain text.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The migration runner logs each file it applies; the CLI prints the same report on stdout,
    // so its info lines would show every migration twice.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,tokio_postgres=warn,pgbase_migrate=warn")
    });
    // While `pgbase dev` stops, its own Postgres goes away under the pool and the schema
    // listener: their warnings about the lost connections say nothing the user needs to know.
    let quiet_while_stopping = tracing_subscriber::filter::filter_fn(|meta| {
        !(pgbase::dev::stopping()
            && *meta.level() == tracing::Level::WARN
            && meta.target() != "pgbase"
            && !meta.target().starts_with("pgbase::"))
    });
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(quiet_while_stopping);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Json => registry.with(layer.json().with_ansi(false)).init(),
        LogFormat::Pretty => registry
            .with(layer.compact().with_ansi(colours_wanted()))
            .init(),
    }
}

/// Commands that print to a terminal or a pipe die quietly when the reader goes away
/// (`pgbase advisors --json | head`), as Unix tools do, instead of panicking on EPIPE. The
/// servers keep Rust's default (SIGPIPE ignored; a closed socket is an error value).
fn die_quietly_on_closed_pipes(command: &cli::Command) {
    if !matches!(
        command,
        cli::Command::Dev { .. } | cli::Command::Serve { .. } | cli::Command::Mcp { .. }
    ) {
        // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid
        // disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    die_quietly_on_closed_pipes(&cli.command);
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
    let result = runtime.block_on(commands::run(cli));
    // Tasks still running (requests cut off by shutdown_timeout) are dropped; a blocking task
    // does not hold the exit up for long.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.exit_code)
        }
    }
}
