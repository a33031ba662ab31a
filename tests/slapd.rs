//! A throw-away OpenLDAP slapd for tests and benchmarks: a private config, a free loopback port,
//! N inetOrgPerson users loaded with slapadd, readiness awaited with ldapsearch; stopped on drop.
//! [`Slapd::start_tls`] adds TLS: a throw-away CA and a server certificate for 127.0.0.1/localhost
//! made at test time (rcgen), StartTLS on the ldap:// port and a second ldaps:// port, and
//! `security tls=1` so the directory answers nothing over plain text.

use std::path::{Path, PathBuf};
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
    /// With [`Slapd::start_tls`]: the ldaps:// port and the CA.
    pub tls: Option<Tls>,
}

/// The TLS side of a [`Slapd::start_tls`] server.
pub struct Tls {
    pub ldaps_port: u16,
    /// PEM of the CA that signed the server's certificate (trusted by nothing on this machine).
    pub ca_file: PathBuf,
}

/// Writes a new CA (`ca.pem`) and a server certificate and key for 127.0.0.1, ::1 and localhost
/// signed by it (`server.pem`, `server.key`, readable by slapd) into `dir`.
pub fn make_certificates(dir: &Path, ca_name: &str) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string(), "::1".to_string(), "localhost".to_string()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, "localhost");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &ca).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    ca_file
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
    /// Plain ldap:// only.
    pub fn start(users: usize) -> Slapd {
        Slapd::start_with(users, false)
    }

    /// ldap:// with StartTLS and ldaps://, certificates from a throw-away CA ([`Slapd::tls`]);
    /// plain-text operations are refused (`security tls=1`).
    pub fn start_tls(users: usize) -> Slapd {
        Slapd::start_with(users, true)
    }

    fn start_with(users: usize, tls: bool) -> Slapd {
        for bin in ["slapd", "slapadd", "ldapsearch"] {
            let found = ["/usr/sbin", "/usr/bin"].iter().any(|d| Path::new(d).join(bin).exists());
            assert!(found, "{bin} is missing: apt-get install -y slapd ldap-utils (scripts/install-deps.sh does)");
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let tls = tls.then(|| Tls { ldaps_port: free_port(), ca_file: make_certificates(d, "Convene test CA") });
        let mut conf = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/nis.schema\ninclude /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {0}/slapd.pid\nargsfile {0}/slapd.args\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nmaxsize 1073741824\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\n\
             directory {0}/db\nindex objectClass eq\n",
            d.display()
        );
        if tls.is_some() {
            // Global directives go before the first `database`.
            conf = conf.replacen(
                "database mdb",
                &format!(
                    "TLSCACertificateFile {0}/ca.pem\nTLSCertificateFile {0}/server.pem\nTLSCertificateKeyFile {0}/server.key\n\
                     security tls=1\ndatabase mdb",
                    d.display()
                ),
                1,
            );
        }
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
        let mut s = Slapd { child: None, dir, port: free_port(), tls };
        s.run();
        s
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}/", self.port)
    }

    /// The ldaps:// URL (a [`Slapd::start_tls`] server).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}/", self.tls.as_ref().expect("a TLS slapd").ldaps_port)
    }

    /// An OpenLDAP client tool against this server: StartTLS with the CA trusted when TLS is on.
    fn tool(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.args(["-x", "-H", &self.url()]);
        if let Some(tls) = &self.tls {
            c.arg("-ZZ").env("LDAPTLS_CACERT", &tls.ca_file).env("LDAPTLS_REQCERT", "demand");
        }
        c
    }

    /// Starts (or restarts) slapd and waits until it answers.
    pub fn run(&mut self) {
        let d = self.dir.path();
        let urls = match &self.tls {
            Some(_) => format!("{} {}", self.url(), self.ldaps_url()),
            None => self.url(),
        };
        let child = Command::new("slapd")
            .args(["-f", d.join("slapd.conf").to_str().unwrap(), "-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self
                .tool("ldapsearch")
                .args(["-b", SUFFIX, "-s", "base", "-LLL", "dn"])
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
        let mut c = self
            .tool(tool)
            .args(["-D", ROOT_DN, "-w", ROOT_PW])
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

