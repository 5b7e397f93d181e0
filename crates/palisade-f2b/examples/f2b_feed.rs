//! Development aid: `f2b_feed FILTER[opts] LOGFILE` prints each failure palisade-f2b finds.
use palisade_f2b::{load_filter, DirSource, FilterSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(spec), Some(log)) = (args.first(), args.get(1)) else {
        eprintln!("usage: f2b_feed FILTER[opts] LOGFILE [FILTER_DIR]");
        std::process::exit(2);
    };
    let dir = args
        .get(2)
        .map(String::as_str)
        .unwrap_or(DirSource::FAIL2BAN_FILTER_DIR);
    let filter = match FilterSpec::parse(spec).and_then(|s| load_filter(&s, &DirSource::new(dir))) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let text = std::fs::read(log).unwrap_or_else(|e| {
        eprintln!("{log}: {e}");
        std::process::exit(1);
    });
    let mut m = filter.matcher();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if let Some(f) = m.feed(line) {
            println!(
                "{}: {} (regex {}, user {:?})",
                n + 1,
                f.host,
                f.regex_index,
                f.user
            );
        }
    }
}
