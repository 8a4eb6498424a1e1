//! ONNX Runtime through the `ort` crate, loading `libonnxruntime.so` at run time (`load-dynamic`):
//! the build never downloads a binary and the default build runs without the library. The PyPI
//! wheel `onnxruntime` ships one under `onnxruntime/capi/`; `ORT_DYLIB_PATH` points at it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::Session as OrtInner;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor as OrtTensor;

use super::{InferenceError, RuntimeKind, Session, Tensor};

/// How to get the library, for error messages.
const HOW_TO_INSTALL: &str = "install it with `pip install onnxruntime` and set ORT_DYLIB_PATH to \
     the libonnxruntime.so.* file under site-packages/onnxruntime/capi/";

/// The library's path: `ORT_DYLIB_PATH`, else the project's `.venv`, else the dynamic loader's
/// default search.
pub fn library_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return PathBuf::from(path);
    }
    let venv_lib = Path::new(".venv/lib");
    if let Ok(pythons) = std::fs::read_dir(venv_lib) {
        for python in pythons.flatten() {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            if let Ok(files) = std::fs::read_dir(&capi) {
                for file in files.flatten() {
                    let name = file.file_name().to_string_lossy().to_string();
                    if name.starts_with("libonnxruntime.so") {
                        return file.path().canonicalize().unwrap_or_else(|_| file.path());
                    }
                }
            }
        }
    }
    PathBuf::from("libonnxruntime.so")
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

pub struct OrtSession {
    // `Session::run` needs `&mut`; ORT parallelises inside one call with its intra-op threads.
    inner: Mutex<OrtInner>,
}

impl OrtSession {
    pub fn load(path: &Path, threads: usize) -> Result<Self, InferenceError> {
        let env = environment()?;
        let load_error = |reason: String| InferenceError::Load {
            path: path.display().to_string(),
            reason,
        };
        let mut builder = OrtInner::builder(env)
            .map_err(|e| load_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| load_error(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| load_error(e.to_string()))?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Self {
            inner: Mutex::new(session),
        })
    }
}

impl Session for OrtSession {
    fn run(&self, input: Tensor) -> Result<Tensor, InferenceError> {
        let run_error = |e: ort::Error| InferenceError::Run(e.to_string());
        let shape: Vec<i64> = input.shape.iter().map(|&d| d as i64).collect();
        let value = OrtTensor::from_array((shape, input.data)).map_err(run_error)?;
        let mut session = self.inner.lock().expect("ort session lock");
        let outputs = session.run(ort::inputs![value]).map_err(run_error)?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(run_error)?;
        Tensor::new(shape.iter().map(|&d| d as usize).collect(), data.to_vec())
    }

    fn runtime(&self) -> RuntimeKind {
        RuntimeKind::Ort
    }
}
