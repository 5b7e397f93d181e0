//! Databases: `mysqld-auth` (MySQL and MariaDB).
//!
//! `Access denied for user 'USER'@'ADDR'`: the user name is the client's and MySQL does
//! not escape quotes in it, so it is a wildcard, and the address is the one before what
//! only the server writes (`(using password: YES)`, `to database 'DB'`).

use super::prefix::syslog;
use super::{journal, Builtin, Family, JailRule};

pub(super) const FAMILY: Family = Family {
    jails: &[("mysqld-auth", &["normal"])],
    build,
};

fn build(name: &str, _mode: &str) -> Option<Builtin> {
    if name != "mysqld-auth" {
        return None;
    }
    // The server's own time in the formats of its versions (`130324  0:04:00`,
    // `2015-10-07  8:25:38`, `2019-01-03T08:50:04.634875Z`), a thread id, the level and
    // MySQL 8's error code and subsystem.
    let pattern = format!(
        r"{}(?:(?:\d{{6}}|\d{{4}}-\d\d-\d\d)[ T] ?\d{{1,2}}:\d\d:\d\d(?:\.\d+)?Z? )?(?:\d+ )?\[\w+\] (?:\[[^\]]*\] )*Access denied for user '.*'@'<HOST>'(?: to database '.*')?(?: \(using password: (?:YES|NO)\))? *$",
        syslog(r"mysqld|mariadbd", true)
    );
    Some(Builtin::each_line(
        journal(&["mariadb.service", "mysql.service"]),
        vec![JailRule::failure(pattern)],
    ))
}
