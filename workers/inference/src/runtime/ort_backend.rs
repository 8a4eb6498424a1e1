//! ONNX Runtime through the `ort` crate, loading `libonnxruntime.so` at run time (`load-dynamic`):
//! the build never downloads a binary and the default build runs without the library. The PyPI
//! wheel `onnxruntime` ships one under `onnxruntime/capi/`; `ORT_DYLIB_PATH` points at it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::session::Session as OrtInner;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor as OrtTensor;

use super::{InferenceError, RuntimeKind, Session, Tensor};

/// How to get the library, for error messages.
const HOW_TO_INSTALL: &str = "install it with `pip install onnxruntime` and set ORT_DYLIB_PATH to \
     the libonnxruntime.so.* file under site-packages/onnxruntime/capi/";

/// The library's path: `ORT_DYLIB_PATH`, else the project's `.venv` (the tests' Python
/// environment), else the copy `scripts/onnxruntime.sh` fetched into the user's cache, else the
/// dynamic loader's default search.
pub fn library_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return PathBuf::from(path);
    }
    let venv_lib = Path::new(".venv/lib");
    if let Ok(pythons) = std::fs::read_dir(venv_lib) {
        for python in pythons.flatten() {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            if let Some(path) = library_in(&capi) {
                return path;
            }
        }
    }
    if let Some(path) = cached_library() {
        return path;
    }
    PathBuf::from("libonnxruntime.so")
}

/// `<cache>/vision/onnxruntime/<version>/libonnxruntime.so.<version>`, the newest version there.
fn cached_library() -> Option<PathBuf> {
    let cache = std::env::var_os("VISION_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
                .map(|cache| cache.join("vision"))
        })?;
    let mut versions: Vec<PathBuf> = std::fs::read_dir(cache.join("onnxruntime"))
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .collect();
    // Newest first ("1.32.0" against "1.4.1": compare the numbers, not the text).
    let key = |path: &PathBuf| -> Vec<u64> {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        name.split('.').map(|n| n.parse().unwrap_or(0)).collect()
    };
    versions.sort_by_key(|path| std::cmp::Reverse(key(path)));
    versions.iter().find_map(|dir| library_in(dir))
}

fn library_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|file| {
        let name = file.file_name().to_string_lossy().to_string();
        name.starts_with("libonnxruntime.so")
            .then(|| file.path().canonicalize().unwrap_or_else(|_| file.path()))
    })
}

/// Loads the library (once per process); its path, or why it cannot be loaded.
pub fn available() -> Result<PathBuf, InferenceError> {
    environment().map(|_| library_path())
}

fn environment() -> Result<&'static ort::environment::Environment, InferenceError> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = library_path();
        let builder = ort::init_from(&path)
            .map_err(|e| format!("{} ({e}); {HOW_TO_INSTALL}", path.display()))?;
        builder
            .with_name("vision")
            .build()
            .map_err(|e| format!("{} ({e}); {HOW_TO_INSTALL}", path.display()))
    })
    .as_ref()
    .map_err(|e| InferenceError::RuntimeUnavailable(e.clone()))
}

/// One or more ORT sessions of the same model. `Session::run` needs `&mut`, so a session serves
/// one call at a time; a pool lets as many calls run at once as it has sessions (each parallel
/// inside with its intra-op threads).
pub struct OrtSession {
    pool: Vec<Mutex<OrtInner>>,
    next: AtomicUsize,
}

impl OrtSession {
    /// `sessions` sessions of `threads` intra-op threads each.
    pub fn load(path: &Path, sessions: usize, threads: usize) -> Result<Self, InferenceError> {
        let env = environment()?;
        let load_error = |reason: String| InferenceError::Load {
            path: path.display().to_string(),
            reason,
        };
        let open = || -> Result<OrtInner, ort::Error> {
            OrtInner::builder(env)?
                .with_optimization_level(GraphOptimizationLevel::Level3)?
                .with_intra_threads(threads.max(1))?
                .with_inter_threads(1)?
                .commit_from_file(path)
        };
        let pool = (0..sessions.max(1))
            .map(|_| {
                open()
                    .map(Mutex::new)
                    .map_err(|e| load_error(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            pool,
            next: AtomicUsize::new(0),
        })
    }

    /// A free session if there is one, else waits for the next in turn.
    fn session(&self) -> std::sync::MutexGuard<'_, OrtInner> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.pool.len();
        for i in 0..n {
            if let Ok(session) = self.pool[(start + i) % n].try_lock() {
                return session;
            }
        }
        self.pool[start % n]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Session for OrtSession {
    fn run(&self, input: Tensor) -> Result<Tensor, InferenceError> {
        let run_error = |e: ort::Error| InferenceError::Run(e.to_string());
        let shape: Vec<i64> = input.shape.iter().map(|&d| d as i64).collect();
        let value = OrtTensor::from_array((shape, input.data)).map_err(run_error)?;
        let mut session = self.session();
        let outputs = session.run(ort::inputs![value]).map_err(run_error)?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(run_error)?;
        Tensor::new(shape.iter().map(|&d| d as usize).collect(), data.to_vec())
    }

    fn runtime(&self) -> RuntimeKind {
        RuntimeKind::Ort
    }
}
