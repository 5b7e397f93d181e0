//! Which command does what: the one place the parsed command line meets the modules.

use anyhow::Result;

use crate::cli::{Cli, Command, FeedsCommand, FleetCommand, PanicSwitch, SetCommand};
use crate::commands::{self, Out};
use crate::fleet::spool::Spool;
use crate::fleet::FleetPaths;
use crate::lock::{self, Lock};
use crate::netns::Namespace;
use crate::policy::{self, env::Env};
use crate::state::StateDir;
use crate::store::{Store, StoreError};
use crate::watch::{self, WatchPaths};

/// The set commands' store: the kernel of the namespace, and its set caches.
fn store(ns: &Namespace) -> Result<Store> {
    let cache = StateDir::for_namespace(ns).ok().map(|s| s.sets());
    Ok(Store::new(ns.netlink()?, cache)
        .with_session(policy::facts::session())
        .with_observer(crate::xdp::observer(ns)))
}

/// The namespace's fleet spool: `block` and `unblock` hand their changes to the fleet daemon.
fn fleet_spool(ns: &Namespace) -> Option<Spool> {
    let state = StateDir::for_namespace(ns).ok()?;
    Some(Spool::new(&FleetPaths::new(&state).outbox))
}

/// The namespace's change lock, for `what`.
fn lock(state: &StateDir, what: &str) -> Result<Lock> {
    Lock::acquire(&state.lock(), what, lock::WAIT)
}

/// Set commands that read, diff and write a set's loaded parts take the lock; single
/// additions and tests do not (they are one atomic kernel operation each).
fn set_lock(ns: &Namespace, cmd: &SetCommand) -> Result<Option<Lock>> {
    let what = match cmd {
        SetCommand::Load(a) => format!("set load {}", a.name),
        SetCommand::Del(a) => format!("set del {}", a.name),
        SetCommand::Create(a) => format!("set create {}", a.name),
        SetCommand::Destroy { name } => format!("set destroy {name}"),
        SetCommand::Flush { name } => format!("set flush {name}"),
        _ => return Ok(None),
    };
    Ok(Some(lock(&StateDir::for_namespace(ns)?, &what)?))
}

/// Run a command; its exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let out = Out {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let ns = Namespace::new(cli.netns);
    match cli.command {
        Command::Set(cmd) => {
            let _lock = set_lock(&ns, &cmd)?;
            commands::set::set(&mut store(&ns)?, cmd, out)
        }
        Command::Block(a) => {
            commands::block::block(&mut store(&ns)?, a, out, fleet_spool(&ns).as_ref())
        }
        Command::Unblock(a) => {
            commands::block::unblock(&mut store(&ns)?, a, out, fleet_spool(&ns).as_ref())
        }
        Command::Otp(cmd) => commands::otp::run(cmd, out),
        Command::Xdp(cmd) => crate::xdp::cmd::run(&ns, &mut store(&ns)?, cmd, out),
        Command::Fleet(cmd) => fleet_command(&ns, cmd),
        Command::Generate(a) => {
            crate::generate::generate(a.what, &mut std::io::stdout().lock())?;
            Ok(0)
        }
        Command::Watch(a) if a.test.is_some() => {
            let cfg = watch::read_config(&a.policy.config)?;
            let file = a.test.as_deref().expect("matched above");
            watch::offline::test_file(&cfg, file, a.jail.as_deref())
        }
        command => {
            let mut env = Env::open(&ns)?;
            policy_command(&mut env, command, out)
        }
    }
}

/// The commands that work with a namespace's policy records or watcher state. Those that
/// change the policy hold the lock; every one first finishes what an interrupted palisade left
/// (see [`policy::intent`]), so what it reads and reports is what the kernel holds.
fn policy_command(env: &mut Env, command: Command, out: Out) -> Result<i32> {
    use policy::{check, explain, persist, plan, status, transitions};
    let changes = match &command {
        Command::Apply(_) => Some("apply"),
        Command::Confirm => Some("confirm"),
        Command::Rollback => Some("rollback"),
        Command::Restore { .. } => Some("restore"),
        Command::Save { .. } => Some("save"),
        Command::Panic(_) => Some("panic"),
        _ => None,
    };
    // The confirm timer starts while its apply is still under way: it recovers only when it
    // wakes, under the lock.
    let timer = matches!(command, Command::ConfirmTimer { .. });
    let _lock = match changes {
        Some(what) => Some(lock(&env.state, what)?),
        None if !timer && env.records.intent().is_some() => Some(lock(&env.state, "recovery")?),
        None => None,
    };
    if !timer {
        policy::intent::recover(env)?;
    }
    let watch_paths = || WatchPaths::new(&env.state);
    match command {
        Command::Check(a) => check::check(env, &a),
        Command::Plan(a) => plan::plan(env, &a),
        Command::Apply(a) => transitions::apply_cmd(env, &a, out),
        Command::Confirm => transitions::confirm(env),
        Command::Rollback => transitions::rollback(env, out),
        Command::ConfirmTimer { token, seconds } => {
            transitions::confirm_timer(env, token, seconds, |env| {
                lock(&env.state, "rollback of an unconfirmed apply")
            })
        }
        Command::Status(a) => status::status(env, &a),
        Command::Explain(a) => explain::explain_cmd(env, &a),
        Command::Save { file } => persist::save(env, file, out),
        Command::Restore { file } => persist::restore(env, file, out),
        Command::Watch(a) => {
            let cfg = watch::read_config(&a.policy.config)?;
            let paths = watch_paths();
            watch::daemon::run(&mut env.store, cfg, &paths, a.from_start, &env.ns)
        }
        Command::Bans(a) => {
            let cfg = watch::read_config(&a.policy.config)?;
            watch::listing::list(&mut env.store, &cfg, a.json)
        }
        Command::Unban(a) => {
            let cfg = watch::read_config(&a.policy.config)?;
            let paths = watch_paths();
            watch::listing::unban(&mut env.store, &cfg, &paths, &a.addresses)
        }
        Command::Metrics(a) => crate::metrics::print(env, &a),
        Command::Serve(a) => crate::serve::run(env, &a),
        Command::Feeds(FeedsCommand::Update(a)) => crate::feeds::update_cmd(env, &a),
        Command::Feeds(FeedsCommand::Status(a)) => crate::feeds::status_cmd(env, &a),
        Command::Panic(a) => match a.switch {
            PanicSwitch::On => policy::panic::panic_on(env, out),
            PanicSwitch::Off => policy::panic::panic_off(env, out),
        },
        Command::Set(_)
        | Command::Block(_)
        | Command::Unblock(_)
        | Command::Otp(_)
        | Command::Xdp(_)
        | Command::Fleet(_)
        | Command::Generate(_) => unreachable!("run() handles these without a policy env"),
    }
}

/// `palisade fleet ...`: the daemon and the commands around it. They need no policy records.
fn fleet_command(ns: &Namespace, cmd: FleetCommand) -> Result<i32> {
    use crate::fleet::{commands, daemon};
    match cmd {
        FleetCommand::Run(a) => daemon::run(ns, &a.config),
        FleetCommand::Status(a) => commands::status(ns, a.json),
        FleetCommand::Forget(a) => commands::forget(ns, &a.host),
        FleetCommand::Keygen(a) => commands::keygen(&a),
        FleetCommand::Nkey(a) => commands::nkey(&a),
    }
}

/// What to do about the errors admins meet most.
pub fn hint(e: &anyhow::Error) -> Option<&'static str> {
    for cause in e.chain() {
        let line = cause
            .downcast_ref::<palisade_core::LineError>()
            .or_else(|| match cause.downcast_ref::<crate::lists::ReadError>() {
                Some(crate::lists::ReadError::Line(l)) => Some(l),
                _ => None,
            });
        let problem = line
            .map(|l| &l.problem)
            .or_else(|| cause.downcast_ref::<palisade_core::Problem>());
        if let Some(palisade_core::Problem::HostBitsSet { .. }) = problem {
            return Some("add --normalize to accept it as that network");
        }
    }
    let nft = e.chain().find_map(|c| {
        c.downcast_ref::<palisade_nft::NftError>()
            .or_else(|| c.downcast_ref::<StoreError>().and_then(StoreError::nft))
    })?;
    match nft.errno() {
        Some(libc::EPERM) => {
            Some("reading or changing nftables needs root (CAP_NET_ADMIN): run palisade with sudo")
        }
        Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => {
            Some("this kernel lacks nf_tables: load it with `modprobe nf_tables`")
        }
        _ => None,
    }
}
