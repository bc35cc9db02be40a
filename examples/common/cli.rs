//! The command-line contract every reference calculator shares (`CALCULATORS.md`, "Shared
//! rules"): flags, usage and `--help` through clap; the input from `--input FILE` or stdin;
//! bad input as `line N: reason` on stderr with exit code 2 and nothing on stdout.
//!
//! `#[path]`-included by each calculator, so each compiles the parts it uses.
#![allow(dead_code)]

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// Why a calculator stops without an answer.
#[derive(Debug)]
pub(crate) enum Exit {
    /// `--help`: the text goes to stdout and the exit code is 0.
    Help(String),
    /// Bad input or a bad flag: the message goes to stderr and the exit code is 2.
    Bad(String),
    /// The answer could not be written (a closed pipe): exit code 1.
    Io(String),
}

impl Exit {
    /// Bad input at a line of the input.
    pub(crate) fn line(line: impl std::fmt::Display, why: impl std::fmt::Display) -> Exit {
        Exit::Bad(format!("line {line}: {why}"))
    }

    /// The message, whatever the kind.
    pub(crate) fn message(&self) -> &str {
        match self {
            Exit::Help(m) | Exit::Bad(m) | Exit::Io(m) => m,
        }
    }
}

/// Ends the process as the contract says: the answer was printed already on `Ok`.
pub(crate) fn finish(result: Result<(), Exit>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(Exit::Bad(msg)) => {
            eprintln!("{}", msg.trim_end());
            ExitCode::from(2)
        }
        Err(Exit::Io(msg)) => {
            eprintln!("{}", msg.trim_end());
            ExitCode::from(1)
        }
    }
}

/// The clap command of a calculator: its name, what it does, and the input section of
/// `--help` (columns and an example line), with the flags every calculator has.
pub(crate) fn command(name: &'static str, about: &'static str, input: &'static str) -> Command {
    Command::new(name)
        .about(about)
        .after_help(input)
        .disable_version_flag(true)
        .arg(
            Arg::new("timing")
                .long("timing")
                .action(ArgAction::SetTrue)
                .display_order(1000)
                .help("print 'timing load_ms=<float> compute_ms=<float>' to stderr"),
        )
}

/// The `--input FILE` flag (stdin when missing or `-`).
pub(crate) fn input_arg() -> Arg {
    Arg::new("input")
        .long("input")
        .value_name("FILE")
        .help("the input CSV, or stdin when missing or '-'")
}

/// A flag taking one value.
pub(crate) fn value(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .help(help)
        // `--periods -30` gives -30 as the value, to be refused as negative, rather than
        // reporting an unknown flag `-3`.
        .allow_negative_numbers(true)
}

/// Parses the flags (without the program name). `--help` is an [`Exit::Help`], any error an
/// [`Exit::Bad`] that carries clap's message and the usage.
pub(crate) fn parse(
    cmd: Command,
    args: impl IntoIterator<Item = String>,
) -> Result<ArgMatches, Exit> {
    let name = cmd.get_name().to_owned();
    cmd.try_get_matches_from(std::iter::once(name).chain(args))
        .map_err(|e| match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Exit::Help(e.to_string()),
            _ => Exit::Bad(e.to_string()),
        })
}

/// A flag's value, parsed by `parse`; a failure names the flag and the value.
pub(crate) fn get<T>(
    m: &ArgMatches,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, Exit> {
    match m.get_one::<String>(name) {
        None => Ok(None),
        Some(v) => parse(v)
            .map(Some)
            .map_err(|why| Exit::Bad(format!("--{name} {v:?}: {why}"))),
    }
}

/// A required flag's value (clap checks presence; this keeps the code panic-free).
pub(crate) fn need<T>(
    m: &ArgMatches,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Exit> {
    get(m, name, parse)?.ok_or_else(|| Exit::Bad(format!("--{name} is required")))
}

/// The clinic calendar from `--tz` (a UTC offset such as `+08:00`), UTC+8 when absent.
pub(crate) fn calendar(m: &ArgMatches) -> Result<clinic_ops::calendar::ClinicCalendar, Exit> {
    Ok(get(m, "tz", |v| {
        clinic_ops::calendar::ClinicCalendar::parse(v).map_err(|e| e.to_string())
    })?
    .unwrap_or_default())
}

/// A count (`u32`, `usize`, ...) from a flag's value: a negative number is refused as
/// negative, anything else that is not a count as not a whole number.
pub(crate) fn count<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    let t = v.trim();
    t.parse::<T>().map_err(|_| match t.parse::<i128>() {
        Ok(n) if n < 0 => "is negative; expected 0 or more".to_owned(),
        Ok(_) => "is too large".to_owned(),
        Err(_) => "is not a whole number".to_owned(),
    })
}

/// The input path, `None` for stdin.
pub(crate) fn input_path(m: &ArgMatches) -> Option<String> {
    m.get_one::<String>("input").filter(|p| *p != "-").cloned()
}

/// A whole input in memory: a regular file mapped, or what was read from stdin or a pipe.
pub(crate) enum Input {
    /// The file's pages, shared with the page cache: no copy, and no fresh memory to zero.
    Mapped(memmap2::Mmap),
    /// Read into memory (stdin, a pipe, an empty file).
    Read(Vec<u8>),
}

impl std::ops::Deref for Input {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Read(v) => v,
        }
    }
}

/// The whole input, mapped where it is a non-empty regular file, read otherwise. For the
/// calculators built for ten-million-row files: reading a 370 MB export into fresh memory
/// spent a tenth of the funnel calculator's time on one core copying it and zeroing the
/// pages it was copied to, before either parser thread could start.
pub(crate) fn map_input(path: Option<&str>) -> Result<Input, Exit> {
    let Some(p) = path.filter(|p| *p != "-") else {
        return read_input(None).map(Input::Read);
    };
    let cannot = |e: std::io::Error| Exit::Bad(format!("{p}: cannot read: {e}"));
    let file = std::fs::File::open(p).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() || meta.len() == 0 {
        return read_input(Some(p)).map(Input::Read);
    }
    // SAFETY: the map is only read, and lives no longer than this run. Its one hazard is
    // another process shrinking the file while it is mapped, which ends this process with
    // SIGBUS; calculators read exports that are not being written, as `rg` and `git` read
    // files by mapping them under the same assumption.
    #[allow(unsafe_code)]
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) => Ok(Input::Mapped(map)),
        // A file system that cannot map files can still be read.
        Err(_) => read_input(Some(p)).map(Input::Read),
    }
}

/// Reads a whole input, a file or stdin.
pub(crate) fn read_input(path: Option<&str>) -> Result<Vec<u8>, Exit> {
    match path {
        Some(p) if p != "-" => {
            std::fs::read(p).map_err(|e| Exit::Bad(format!("{p}: cannot read: {e}")))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Exit::Bad(format!("stdin: cannot read: {e}")))?;
            Ok(buf)
        }
    }
}

/// The 1-based line of the first byte that is not UTF-8, if any.
pub(crate) fn bad_utf8_line(data: &[u8]) -> Option<usize> {
    let err = std::str::from_utf8(data).err()?;
    let before = data.get(..err.valid_up_to()).unwrap_or(&[]);
    Some(1 + before.iter().filter(|&&b| b == b'\n').count())
}

/// The message for an input of 0 bytes: `header` is the expected header row.
pub(crate) fn empty_input(header: &str) -> Exit {
    Exit::line(1, format!("empty input, expected the header {header}"))
}

/// Checks a whole input: not 0 bytes, and UTF-8 throughout.
pub(crate) fn check_text(data: &[u8], header: &str) -> Result<(), Exit> {
    if data.is_empty() {
        return Err(empty_input(header));
    }
    match bad_utf8_line(data) {
        Some(line) => Err(not_utf8(line)),
        None => Ok(()),
    }
}

/// The message for text that is not UTF-8.
pub(crate) fn not_utf8(line: usize) -> Exit {
    Exit::line(line, "text is not UTF-8")
}

/// A header cell as written, without a byte order mark and surrounding blanks.
pub(crate) fn header_cell(cell: &str) -> &str {
    cell.trim_start_matches('\u{feff}').trim()
}

/// The index of each wanted column in the header row, found by name; a missing one is bad
/// input naming it and the header expected.
pub(crate) fn find_columns<const N: usize>(
    header: &[&str],
    wanted: [&str; N],
    expected: &str,
) -> Result<[usize; N], Exit> {
    let mut at = [0usize; N];
    for (slot, name) in at.iter_mut().zip(wanted) {
        *slot = header
            .iter()
            .position(|h| header_cell(h) == name)
            .ok_or_else(|| {
                Exit::line(
                    1,
                    format!("missing column {name} (expected the header {expected})"),
                )
            })?;
    }
    Ok(at)
}

/// The one `--timing` line.
pub(crate) fn print_timing(load: Duration, compute: Duration) {
    eprintln!(
        "timing load_ms={:.3} compute_ms={:.3}",
        load.as_secs_f64() * 1e3,
        compute.as_secs_f64() * 1e3
    );
}
