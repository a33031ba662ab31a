//! A throw-away OpenLDAP slapd for tests and benchmarks: a private config, a free loopback port,
//! N inetOrgPerson users loaded with slapadd, readiness awaited with ldapsearch; stopped on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::free_port;

pub const SUFFIX: &str = "dc=example,dc=com";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PW: &str = "directory-secret-17";

/// A slapd on a loopback port, stopped on drop.
pub struct Slapd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

pub fn user_ldif(i: usize, sn: &str) -> String {
    format!(
        "dn: uid=user{i:02},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: user{i:02}\ncn: User{i:02} {sn}\n\
         givenName: User{i:02}\nsn: {sn}\nmail: User{i:02}@Example.com\nemployeeNumber: {}\ntelephoneNumber: +47 (22) 55-{:04}\n\n",
        100000 + i,
        1000 + i
    )
}

impl Slapd {
    pub fn start(users: usize) -> Slapd {
        for bin in ["slapd", "slapadd", "ldapsearch"] {
            let found = ["/usr/sbin", "/usr/bin"].iter().any(|d| Path::new(d).join(bin).exists());
            assert!(found, "{bin} is missing: apt-get install -y slapd ldap-utils (scripts/install-deps.sh does)");
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/nis.schema\ninclude /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {0}/slapd.pid\nargsfile {0}/slapd.args\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nmaxsize 1073741824\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\n\
             directory {0}/db\nindex objectClass eq\n",
            d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let mut ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n"
        );
        for i in 0..users {
            ldif.push_str(&user_ldif(i, "Tester"));
        }
        std::fs::write(d.join("users.ldif"), ldif).unwrap();
        let out = Command::new("slapadd")
            .args(["-q", "-f", d.join("slapd.conf").to_str().unwrap(), "-l", d.join("users.ldif").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));
        let mut s = Slapd { child: None, dir, port: free_port() };
        s.run();
        s
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}/", self.port)
    }

    /// Starts (or restarts) slapd and waits until it answers.
    pub fn run(&mut self) {
        let d = self.dir.path();
        let child = Command::new("slapd")
            .args(["-f", d.join("slapd.conf").to_str().unwrap(), "-h", &self.url(), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = Command::new("ldapsearch")
                .args(["-x", "-H", &self.url(), "-b", SUFFIX, "-s", "base", "-LLL", "dn"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "slapd did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn ldap(&self, tool: &str, input: &str) {
        use std::io::Write;
        let mut c = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

