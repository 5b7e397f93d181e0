use palisade_f2b::pyregex::{Flags, PyRegex};
use std::time::Instant;
fn main() {
    let text = std::fs::read_to_string("/tmp/sshd-100k.log").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let syslog = PyRegex::new(r"(?iu)^(?:\W{0,2})?((?:(?P<a>mon|tue|wed|thu|fri|sat|sun) )?(?P<b>sep|jan|feb|mar|apr|may|jun|jul|aug|oct|nov|dec) (?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1]) ?(?P<H>[0-2]?\d):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1])(?:\.(?P<f>[0-9]{1,6}))?(?: (?P<Y>20\d\d))?)", Flags::default());
    println!("{:?}", syslog.as_ref().err());
    let r = syslog.unwrap();
    let t = Instant::now();
    let mut n = 0;
    for l in &lines { if r.search(l).is_some() { n += 1; } }
    println!("syslog template search: {n} {:?}/line", t.elapsed() / lines.len() as u32);
    let f = palisade_f2b::load_filter(&palisade_f2b::FilterSpec::named("sshd"), &palisade_f2b::DirSource::new("/etc/fail2ban/filter.d")).unwrap();
    let t = Instant::now();
    let mut m = f.matcher();
    let mut n = 0;
    for l in &lines { if m.feed(l.as_bytes()).is_some() { n += 1; } }
    println!("full: {n} {:?}/line", t.elapsed() / lines.len() as u32);
}
