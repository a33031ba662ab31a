//! An RTMP server for end-to-end tests: nginx with the RTMP module (packages `nginx`,
//! `libnginx-mod-rtmp`) on a free loopback port, application `live`, started from a private
//! configuration and killed on drop. `pull` records a stream with ffmpeg and `probe` reads it
//! with ffprobe.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::free_port;

pub struct NginxRtmp {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl NginxRtmp {
    pub fn start() -> NginxRtmp {
        let mut n = NginxRtmp { child: None, port: free_port(), dir: tempfile::tempdir().unwrap() };
        n.restart();
        n
    }

    /// (Re)starts nginx on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let d = self.dir.path();
        let conf = d.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process off;\npid {pid};\nerror_log {log} info;\n\
                 load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\nevents {{}}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n",
                pid = d.join("nginx.pid").display(),
                log = d.join("error.log").display(),
                port = self.port
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx libnginx-mod-rtmp)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nginx-rtmp did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills nginx (a dropped connection for whoever is publishing).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Records `seconds` of `stream` with ffmpeg (no re-encoding) into a file; `None` if there
    /// was nothing to record.
    pub fn pull(&self, stream: &str, seconds: u32) -> Option<PathBuf> {
        let out = self.dir.path().join(format!("{stream}-{}.flv", free_port()));
        let ok = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-rw_timeout", "10000000", "-i", &self.url(stream)])
            .args(["-t", &seconds.to_string(), "-c", "copy", "-y"])
            .arg(&out)
            .stdin(Stdio::null())
            .status()
            .expect("ffmpeg")
            .success();
        (ok && out.metadata().is_ok_and(|m| m.len() > 0)).then_some(out)
    }
}

/// ffprobe's streams and format of a media file.
pub fn probe(file: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_format", "-of", "json"])
        .arg(file)
        .output()
        .expect("ffprobe");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        self.stop();
    }
}
