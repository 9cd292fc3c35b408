//! `sitepatrol extract FILE`: what the scanner sees, as JSON.

use std::io::Read;
use std::path::PathBuf;

use sitepatrol_core::extract::ContentKind;
use sitepatrol_core::scan::{self, ScanOptions};

use super::exit;

#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// The file to extract, or `-` for standard input.
    file: PathBuf,
    /// The page's URL, to resolve relative links the way a crawl would.
    #[arg(long)]
    url: Option<url::Url>,
    /// An HTTP Content-Type header value, as a crawl would have it.
    #[arg(long, value_name = "VALUE")]
    content_type: Option<String>,
    /// Bytes read from the file at most.
    #[arg(long, value_name = "BYTES", default_value_t = ScanOptions::default().max_file_size)]
    max_file_size: u64,
}

pub fn run(args: ExtractArgs) -> i32 {
    let mut warnings = Vec::new();
    let (bytes, kind) = if args.file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        let read = std::io::stdin()
            .lock()
            .take(args.max_file_size)
            .read_to_end(&mut bytes);
        if let Err(e) = read {
            eprintln!("error: standard input: {e}");
            return exit::ERROR;
        }
        (bytes, None)
    } else {
        match scan::read_capped(&args.file, args.max_file_size) {
            Ok((bytes, truncated_from)) => {
                if let Some(size) = truncated_from {
                    warnings.push(scan::truncation_warning(size, args.max_file_size));
                }
                (bytes, scan::kind_for_path(&args.file))
            }
            Err(e) => {
                super::report_error(&e);
                return exit::ERROR;
            }
        }
    };
    let (decoded, document) = scan::prepare(
        &bytes,
        kind,
        args.url.as_ref(),
        args.content_type.as_deref(),
        &mut warnings,
    );
    for w in &warnings {
        eprintln!("warning: {}: {w}", args.file.display());
    }
    let value = serde_json::json!({
        "target": args.file.display().to_string(),
        "bytes": bytes.len(),
        "kind": document.as_ref().map(|d| d.kind).unwrap_or(kind.unwrap_or(ContentKind::Plain)),
        "encoding": decoded,
        "document": document,
        "warnings": warnings,
    });
    match serde_json::to_string_pretty(&value) {
        Ok(json) => {
            println!("{json}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot serialize the extraction: {e}");
            exit::ERROR
        }
    }
}
