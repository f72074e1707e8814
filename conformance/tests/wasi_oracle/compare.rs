//! The comparison of the two runs, and how a difference is shown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cage_conformance::oracle::Call;

use crate::{Observation, Program, Step};

/// What is compared, as the differences file names it.
pub(crate) const WHATS: &[&str] = &["outcome", "stdout", "stderr", "errnos", "files"];

/// The preview 1 errno names, by number.
#[rustfmt::skip]
const ERRNO: &[&str] = &[
    "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
    "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
    "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
    "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
    "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE", "NOBUFS",
    "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT", "NOSPC", "NOSYS",
    "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP", "NOTTY", "NXIO",
    "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT", "PROTOTYPE", "RANGE",
    "ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE",
];

fn show_call(c: &Call) -> String {
    if c.name == "proc_exit" {
        return format!("proc_exit({})", c.errno);
    }
    let name = usize::try_from(c.errno)
        .ok()
        .and_then(|i| ERRNO.get(i))
        .map_or_else(|| "?".to_owned(), |n| format!("E{n}"));
    format!("{} → {} ({name})", c.name, c.errno)
}

fn show_bytes(b: &[u8]) -> String {
    const MAX: usize = 600;
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX)]);
    if b.len() > MAX {
        format!("{s:?}… ({} bytes)", b.len())
    } else {
        format!("{s:?}")
    }
}

/// The differences between Cage's run and `wasmtime-wasi`'s, by [`WHATS`], each described.
/// After a step that ran out of stack on either side nothing is compared (the same stack limit
/// allows different depths when frames differ), and then neither are output and files.
pub(crate) fn compare(
    p: &Program,
    cage: &Observation,
    raw: &Observation,
) -> BTreeMap<&'static str, String> {
    let stop = [&cage.steps, &raw.steps]
        .iter()
        .filter_map(|s| s.iter().position(|s| s.stack_overflow))
        .min();
    fn up_to(o: &Observation, stop: Option<usize>) -> &[Step] {
        &o.steps[..stop.unwrap_or(usize::MAX).min(o.steps.len())]
    }
    let compared = |o| up_to(o, stop);
    let mut d = BTreeMap::new();
    if let Some(text) = outcome_difference(compared(cage), compared(raw)) {
        d.insert("outcome", text);
    }
    if let Some(text) = errno_difference(p, (cage, compared(cage)), (raw, compared(raw))) {
        d.insert("errnos", text);
    }
    if stop.is_some() {
        return d;
    }
    for (what, c, r) in [
        ("stdout", &cage.stdout, &raw.stdout),
        ("stderr", &cage.stderr, &raw.stderr),
    ] {
        if c != r {
            let text = format!(
                "Cage {}\n    wasmtime-wasi {}",
                show_bytes(c),
                show_bytes(r)
            );
            d.insert(what, text);
        }
    }
    if cage.files != raw.files {
        let mut text = String::new();
        for (i, (c, r)) in cage.files.iter().zip(&raw.files).enumerate() {
            let (c, r): (BTreeSet<&String>, BTreeSet<&String>) =
                (c.iter().collect(), r.iter().collect());
            let guest = p.policy.wasi.dirs.get(i).map_or("?", |d| d.guest.as_str());
            for f in c.difference(&r) {
                let _ = write!(text, "\n      {guest}: only Cage left {f}");
            }
            for f in r.difference(&c) {
                let _ = write!(text, "\n      {guest}: only wasmtime-wasi left {f}");
            }
        }
        d.insert("files", text);
    }
    d
}

/// The first step whose outcome differs, or different numbers of steps.
fn outcome_difference(cage: &[Step], raw: &[Step]) -> Option<String> {
    let show = |s: &Step| {
        let m = s.message.as_deref().map(|m| format!(" ({m})"));
        format!("`{}` {}{}", s.what, s.outcome, m.unwrap_or_default())
    };
    if let Some((i, (c, r))) = cage
        .iter()
        .zip(raw)
        .enumerate()
        .find(|(_, (c, r))| c.outcome != r.outcome)
    {
        return Some(format!(
            "step {i}: Cage {}; wasmtime-wasi {}",
            show(c),
            show(r)
        ));
    }
    let names = |s: &[Step]| {
        s.iter()
            .map(|s| s.what.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    (cage.len() != raw.len()).then(|| {
        format!(
            "Cage took {} steps ({}), wasmtime-wasi {} ({})",
            cage.len(),
            names(cage),
            raw.len(),
            names(raw)
        )
    })
}

/// The WASI calls each compared step made, in order.
fn calls_by_step(p: &Program, o: &Observation, steps: &[Step]) -> Vec<Vec<Call>> {
    let mut from = 0;
    steps
        .iter()
        .map(|s| {
            let to = s.log_len.min(o.log.len());
            let calls = p.module.calls(&o.log[from.min(to)..to]);
            from = to;
            calls
        })
        .collect()
}

/// The first WASI call whose name or errno differs, with its neighbours, and every step whose
/// calls differ (one difference early does not hide later ones).
fn errno_difference(
    p: &Program,
    (cage, cage_steps): (&Observation, &[Step]),
    (raw, raw_steps): (&Observation, &[Step]),
) -> Option<String> {
    let (cc, rc) = (
        calls_by_step(p, cage, cage_steps),
        calls_by_step(p, raw, raw_steps),
    );
    let (cl, rl): (Vec<&Call>, Vec<&Call>) =
        (cc.iter().flatten().collect(), rc.iter().flatten().collect());
    if cl == rl {
        return None;
    }
    let first = cl
        .iter()
        .zip(&rl)
        .position(|(a, b)| a != b)
        .unwrap_or(cl.len().min(rl.len()));
    let mut text = format!(
        "first difference at WASI call #{first} (Cage made {} calls, wasmtime-wasi {}):",
        cl.len(),
        rl.len()
    );
    for (i, c) in cl
        .iter()
        .enumerate()
        .take(first)
        .skip(first.saturating_sub(3))
    {
        let _ = write!(text, "\n      #{i} both: {}", show_call(c));
    }
    for i in first..(first + 3).min(cl.len().max(rl.len())) {
        let show = |l: &[&Call]| l.get(i).map_or_else(|| "—".to_owned(), |c| show_call(c));
        let _ = write!(
            text,
            "\n      #{i} Cage: {:<40} wasmtime-wasi: {}",
            show(&cl),
            show(&rl)
        );
    }
    let differing: Vec<(usize, &Vec<Call>, &Vec<Call>)> = cc
        .iter()
        .zip(&rc)
        .enumerate()
        .filter(|(_, (c, r))| c != r)
        .map(|(i, (c, r))| (i, c, r))
        .collect();
    let names: Vec<String> = differing
        .iter()
        .map(|(i, _, _)| format!("{i} `{}`", cage_steps[*i].what))
        .collect();
    let _ = write!(
        text,
        "\n    steps whose WASI calls differ: {}",
        names.join(", ")
    );
    let short = |calls: &[Call]| -> String {
        let mut v: Vec<String> = calls.iter().take(6).map(show_call).collect();
        if calls.len() > 6 {
            v.push(format!("… {} more", calls.len() - 6));
        }
        v.join(", ")
    };
    for (i, c, r) in differing.iter().take(4) {
        let _ = write!(
            text,
            "\n      step {i} `{}`: Cage [{}]\n        wasmtime-wasi [{}]",
            cage_steps[*i].what,
            short(c),
            short(r)
        );
    }
    Some(text)
}
