//! An instance's memory, limited to its function's `MemorySize` with a cgroup of its own where
//! this machine lets the server make one (Linux, cgroup v2 with the memory controller enabled,
//! or v1's memory hierarchy; writable, as for root or a delegated service). The cgroup also
//! gives the REPORT line's `Max Memory Used` for the whole instance, children included, and
//! tells an out-of-memory kill from a crash.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The parent of every instance's cgroup, made once per server.
pub struct Cgroups {
    root: PathBuf,
    version: Version,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One instance's cgroup; removed when dropped (after its processes are gone).
pub struct MemoryLimit {
    dir: PathBuf,
    version: Version,
    /// `cgroup.procs` as a C string, for the child to move itself in before it runs.
    pub procs: CString,
}

impl Cgroups {
    /// Finds where this process may make cgroups with a memory limit; `None` where it cannot.
    pub fn detect() -> Option<Cgroups> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let pid = std::process::id();
        let candidates = own.lines().filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.trim_start_matches('/');
            if controllers.is_empty() {
                let base = Path::new("/sys/fs/cgroup").join(path);
                let unified = Path::new("/sys/fs/cgroup/unified").join(path);
                let base = [base, unified]
                    .into_iter()
                    .find(|b| controllers_of(b).iter().any(|c| c == "memory"))?;
                Some((base, Version::V2))
            } else if controllers.split(',').any(|c| c == "memory") {
                Some((Path::new("/sys/fs/cgroup/memory").join(path), Version::V1))
            } else {
                None
            }
        });
        for (base, version) in candidates {
            remove_stale(&base);
            let root = base.join(format!("dynarock-{pid}"));
            if std::fs::create_dir(&root).is_err() {
                continue;
            }
            if version == Version::V2
                && std::fs::write(root.join("cgroup.subtree_control"), "+memory").is_err()
            {
                let _ = std::fs::remove_dir(&root);
                continue;
            }
            return Some(Cgroups { root, version });
        }
        None
    }

    /// A cgroup for instance `id` limited to `mb` megabytes.
    pub fn limit(&self, id: &str, mb: u32) -> Option<MemoryLimit> {
        let dir = self.root.join(id);
        std::fs::create_dir(&dir).ok()?;
        let bytes = (u64::from(mb) << 20).to_string();
        let set = match self.version {
            Version::V1 => std::fs::write(dir.join("memory.limit_in_bytes"), &bytes),
            Version::V2 => std::fs::write(dir.join("memory.max"), &bytes)
                .and_then(|()| std::fs::write(dir.join("memory.swap.max"), "0").or(Ok(()))),
        };
        let procs = CString::new(
            dir.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .ok();
        match (set, procs) {
            (Ok(()), Some(procs)) => Some(MemoryLimit {
                dir,
                version: self.version,
                procs,
            }),
            _ => {
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.root);
    }
}

/// Removes the cgroups of servers that died without removing them (kill -9).
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("dynarock-") else {
            continue;
        };
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        if let Ok(children) = std::fs::read_dir(entry.path()) {
            for child in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}

fn controllers_of(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl MemoryLimit {
    /// The instance's peak memory in MB, children included.
    pub fn peak_mb(&self) -> Option<u64> {
        let file = match self.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        read_number(&self.dir.join(file)).map(|b| b.div_ceil(1 << 20))
    }

    /// Whether the kernel killed a process of the instance for passing the limit.
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        std::fs::read_to_string(self.dir.join(file))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    /// Moves the calling process into the cgroup: run in the child between fork and exec, so it
    /// only makes system calls (writing `0` moves the writer).
    pub fn enter(procs: &CString) -> std::io::Result<()> {
        // SAFETY: open/write/close on a NUL-terminated path owned by the caller.
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let written = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            if written != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        // The instance's processes were killed just before; the cgroup is removable once they
        // have exited, which takes a moment: wait for that on a thread of its own.
        let dir = std::mem::take(&mut self.dir);
        std::thread::spawn(move || {
            for _ in 0..500 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            tracing::warn!(
                "cgroup {} is still busy after 1 s; left behind",
                dir.display()
            );
        });
    }
}
