//! `pam_palisade.so`: one-time passwords from a printed sheet, compatible with OTPW.
//!
//! `auth` asks `Password NNN: ` (or `Password 003/007/024: ` while another login holds the
//! lock), verifies the prefix password followed by the one-time password(s) against
//! `~/.otpw`, and burns them on disk before it returns success. `session` says how many
//! passwords are left. Module arguments: `debug` (log to standard error too).
//!
//! Return codes: PAM_AUTHINFO_UNAVAIL when the user has no usable hash file (none, unsafe
//! ownership or permissions, not a regular file, malformed, exhausted) or an unsafe lock
//! owner or failure file, so a `sufficient` line falls through to the next method;
//! PAM_AUTH_ERR for a wrong answer and during a lock-out.

pub mod account;
mod failures;
pub mod files;
pub mod lock;
mod log;
mod login;
mod process;

use account::{as_user, Account};
use log::Log;
use login::{Checked, Refusal};
use palisade_otp::FailurePolicy;
use pam::constants::{PamFlag, PamResultCode, PAM_PROMPT_ECHO_OFF, PAM_SILENT, PAM_TEXT_INFO};
use pam::conv::Conv;
use pam::module::{PamHandle, PamHooks};
use std::ffi::CStr;

struct PamPalisade;
pam::pam_hooks!(PamPalisade);

/// PAM data key under which a login keeps its lock, so that `pam_end` removes the lock even
/// when the application abandons the conversation (as sshd does when the client hangs up).
const LOCK_DATA: &str = "palisade_otp_lock";

/// Owns a lock until PAM lets go of it.
struct HeldLock {
    account: Account,
    lock: lock::Lock,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = as_user(&self.account, || self.lock.release());
    }
}

fn log_for(args: &[&CStr]) -> Log {
    Log {
        debug: args.iter().any(|a| a.to_bytes() == b"debug"),
    }
}

fn user_account(pamh: &mut PamHandle, log: Log) -> Result<Account, PamResultCode> {
    let user = pamh.get_user(None)?;
    Account::lookup(&user).ok_or_else(|| {
        log.say(libc::LOG_NOTICE, &user, "no such user");
        PamResultCode::PAM_USER_UNKNOWN
    })
}

fn authenticate(pamh: &mut PamHandle, log: Log) -> PamResultCode {
    let account = match user_account(pamh, log) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let policy = FailurePolicy::default();
    let prepared = match login::prepare(&account, &policy, files::unix_now()) {
        Ok(p) => p,
        Err(refusal) => {
            let code = match refusal {
                Refusal::LockedOut { .. } => PamResultCode::PAM_AUTH_ERR,
                _ => PamResultCode::PAM_AUTHINFO_UNAVAIL,
            };
            let quiet = matches!(refusal, Refusal::Unusable(files::Unusable::Missing));
            if !quiet {
                log.say(libc::LOG_WARNING, &account.name, &refusal.to_string());
            }
            return code;
        }
    };
    let mut prepared = prepared;
    if let Some(stale) = &prepared.took_over {
        log.say(
            libc::LOG_NOTICE,
            &account.name,
            &format!("removed a stale lock: {stale}"),
        );
    }
    if let Some(lock) = prepared.lock.take() {
        let held = Box::new(HeldLock {
            account: account.clone(),
            lock,
        });
        if let Err(code) = pamh.set_data(LOCK_DATA, held) {
            return code;
        }
    }
    let prompt = prepared.challenge.prompt(&prepared.file);
    let answer = match pamh.get_item::<Conv>() {
        Ok(Some(conv)) => conv.send(PAM_PROMPT_ECHO_OFF, &prompt),
        Ok(None) => Err(PamResultCode::PAM_CONV_ERR),
        Err(code) => Err(code),
    };
    let code = match answer {
        Ok(Some(answer)) => {
            let checked = login::check(
                &account,
                &prepared,
                answer.as_bytes(),
                &policy,
                files::unix_now(),
            );
            match checked {
                Checked::Accepted { uncleared } => {
                    log.say(
                        libc::LOG_INFO,
                        &account.name,
                        &format!("accepted {}", prompt.trim()),
                    );
                    if let Some(e) = uncleared {
                        let why = format!("cannot reset the failure count: {e}");
                        log.say(libc::LOG_WARNING, &account.name, &why);
                    }
                    PamResultCode::PAM_SUCCESS
                }
                Checked::Rejected {
                    delay,
                    failures,
                    unrecorded,
                } => {
                    log.say(
                        libc::LOG_NOTICE,
                        &account.name,
                        &format!("wrong answer to {} ({failures} in a row)", prompt.trim()),
                    );
                    if let Some(e) = unrecorded {
                        let why = format!("cannot count the failure: {e}");
                        log.say(libc::LOG_WARNING, &account.name, &why);
                    }
                    std::thread::sleep(delay);
                    PamResultCode::PAM_AUTH_ERR
                }
                Checked::NotBurnt(why) => {
                    log.say(
                        libc::LOG_ERR,
                        &account.name,
                        &format!("right answer refused: cannot burn it: {why}"),
                    );
                    PamResultCode::PAM_AUTH_ERR
                }
            }
        }
        Ok(None) => PamResultCode::PAM_CONV_ERR,
        Err(code) => code,
    };
    // Release the lock now, whatever the outcome: replacing the data runs its cleanup.
    let _ = pamh.set_data(LOCK_DATA, Box::new(()));
    code
}

fn open_session(pamh: &mut PamHandle, log: Log, flags: PamFlag) -> PamResultCode {
    let Ok(account) = user_account(pamh, log) else {
        return PamResultCode::PAM_IGNORE;
    };
    let opened = as_user(&account, || {
        files::open_hash_file(&account.home, account.uid, false)
    });
    let Ok(Ok(opened)) = opened else {
        return PamResultCode::PAM_IGNORE;
    };
    if flags & PAM_SILENT != 0 {
        return PamResultCode::PAM_SUCCESS;
    }
    let message = palisade_otp::sheet::remaining_message(&opened.parsed);
    if let Ok(Some(conv)) = pamh.get_item::<Conv>() {
        let _ = conv.send(PAM_TEXT_INFO, &message);
    }
    PamResultCode::PAM_SUCCESS
}

impl PamHooks for PamPalisade {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        authenticate(pamh, log_for(&args))
    }

    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        open_session(pamh, log_for(&args), flags)
    }

    fn sm_close_session(
        _pamh: &mut PamHandle,
        _args: Vec<&CStr>,
        _flags: PamFlag,
    ) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}
