//! ONNX Runtime through `ort`, with `libonnxruntime.so` loaded at run time.
//!
//! The library comes from the PyPI `onnxruntime` wheel, which `scripts/setup.sh` unpacks into
//! `$INFERGATE_HOME/lib` (default `~/.local/share/infergate/lib`). [`init`] finds it without the
//! user setting anything, and says what to run when it is missing.

use std::env;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session as OrtSession;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{DynValue, TensorElementType, ValueType};

use crate::home::infergate_home;
use crate::model::{LoadedModel, ModelMetadata, RuntimeError, Session, TensorSpec};
use crate::protocol::{DataType, Tensor, TensorData};

/// The environment variable `ort` itself honours; we honour it first too.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// How to run an ONNX model.
#[derive(Clone, Debug)]
pub struct OnnxOptions {
    /// Threads ONNX Runtime may use inside one operator, per worker. Default 1: on small machines
    /// more threads fight the workers and the async runtime for cores (DEPENDENCIES.md §3.6).
    pub intra_op_threads: usize,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        OnnxOptions {
            intra_op_threads: 1,
        }
    }
}

/// The process-wide ONNX Runtime environment and the library it came from.
static ENVIRONMENT: OnceLock<(ort::environment::Environment, PathBuf)> = OnceLock::new();

/// Finds and loads `libonnxruntime.so` once per process; later calls return the same path.
///
/// Looks at, in order: `explicit`, `$ORT_DYLIB_PATH`, `$INFERGATE_HOME/lib` (default
/// `~/.local/share/infergate/lib`), the executable's directory and `../lib` next to it.
pub fn init(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some((_, path)) = ENVIRONMENT.get() {
        return Ok(path.clone());
    }
    let candidates = library_candidates(explicit);
    let path = candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        RuntimeError::Load(format!(
            "ONNX Runtime (libonnxruntime.so) not found; looked in: {}. Run `scripts/setup.sh` \
             from the infergate repository to install it, or set {ORT_DYLIB_PATH} to the library's path",
            looked.join(", ")
        ))
    })?;
    let env = ort::init_from(&path)
        .map_err(|e| {
            RuntimeError::Load(format!(
                "cannot load ONNX Runtime from {}: {e}",
                path.display()
            ))
        })?
        .with_name("infergate")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Load(format!("cannot start ONNX Runtime: {e}")))?;
    // A racing caller may have won; either environment is fine, keep the first.
    let (_, path) = ENVIRONMENT.get_or_init(|| (env, path));
    Ok(path.clone())
}

fn library_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    if let Some(p) = env::var_os(ORT_DYLIB_PATH) {
        return vec![PathBuf::from(p)];
    }
    if let Some(home) = infergate_home() {
        dirs.push(home.join("lib"));
    }
    if let Some(exe_dir) = env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("../lib"));
        dirs.push(exe_dir);
    }
    let mut files = Vec::new();
    for dir in dirs {
        files.push(dir.join("libonnxruntime.so"));
        // The wheel ships only the versioned name; take the newest if there are several.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut versioned: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so."))
                })
                .collect();
            versioned.sort();
            files.extend(versioned.into_iter().rev());
        }
    }
    files
}

/// Loads an ONNX model, reading its inputs and outputs from the file.
pub fn load(
    model_name: &str,
    path: &Path,
    options: &OnnxOptions,
) -> Result<LoadedModel, RuntimeError> {
    init(None)?;
    let bytes = std::fs::read(path)
        .map_err(|e| RuntimeError::Load(format!("cannot read {}: {e}", path.display())))?;
    let probe = build_session(&bytes, options)?;
    let metadata = ModelMetadata {
        name: model_name.to_owned(),
        platform: "onnxruntime_onnx".to_owned(),
        inputs: probe
            .inputs()
            .iter()
            .map(outlet_spec)
            .collect::<Result<_, _>>()?,
        outputs: probe
            .outputs()
            .iter()
            .map(outlet_spec)
            .collect::<Result<_, _>>()?,
    };
    let options = options.clone();
    let outputs = metadata.outputs.clone();
    // The probe session serves the first worker; later workers build their own from the bytes.
    let first = std::sync::Mutex::new(Some(probe));
    let sessions = Box::new(move || {
        let session = match first.lock().ok().and_then(|mut s| s.take()) {
            Some(session) => session,
            None => build_session(&bytes, &options)?,
        };
        Ok(Box::new(OnnxSession {
            session,
            outputs: outputs.clone(),
        }) as Box<dyn Session>)
    });
    Ok(LoadedModel { metadata, sessions })
}

fn build_session(bytes: &[u8], options: &OnnxOptions) -> Result<OrtSession, RuntimeError> {
    // Builder errors are not `Send`; turn them into strings here.
    fn build(bytes: &[u8], options: &OnnxOptions) -> ort::Result<OrtSession> {
        let (env, _) = ENVIRONMENT
            .get()
            .ok_or_else(|| ort::Error::new("not initialised"))?;
        OrtSession::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_threads(options.intra_op_threads.max(1))?
            .with_inter_threads(1)?
            .with_intra_op_spinning(false)?
            .commit_from_memory(bytes)
    }
    build(bytes, options).map_err(|e| RuntimeError::Load(format!("not a valid ONNX model: {e}")))
}

fn outlet_spec(outlet: &ort::value::Outlet) -> Result<TensorSpec, RuntimeError> {
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => Ok(TensorSpec {
            name: outlet.name().to_owned(),
            datatype: datatype(*ty).ok_or_else(|| {
                RuntimeError::Load(format!(
                    "`{}` has element type {ty:?}, which the inference protocols cannot carry",
                    outlet.name()
                ))
            })?,
            shape: shape.iter().copied().collect(),
        }),
        other => Err(RuntimeError::Load(format!(
            "`{}` is a {other:?}, not a tensor; export the model with tensor inputs and outputs \
             (for skl2onnx classifiers, disable the ZipMap: options={{'zipmap': False}})",
            outlet.name()
        ))),
    }
}

fn datatype(ty: TensorElementType) -> Option<DataType> {
    Some(match ty {
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::Uint8 => DataType::U8,
        TensorElementType::Uint16 => DataType::U16,
        TensorElementType::Uint32 => DataType::U32,
        TensorElementType::Uint64 => DataType::U64,
        TensorElementType::Int8 => DataType::I8,
        TensorElementType::Int16 => DataType::I16,
        TensorElementType::Int32 => DataType::I32,
        TensorElementType::Int64 => DataType::I64,
        TensorElementType::Float16 => DataType::F16,
        TensorElementType::Float32 => DataType::F32,
        TensorElementType::Float64 => DataType::F64,
        TensorElementType::String => DataType::Bytes,
        _ => return None,
    })
}

/// One worker's ONNX Runtime session.
struct OnnxSession {
    session: OrtSession,
    outputs: Vec<TensorSpec>,
}

// === impl OnnxSession ===

impl Session for OnnxSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, RuntimeError> {
        let values = inputs
            .into_iter()
            .map(|t| {
                let (name, shape, data) = t.into_parts();
                to_value(&name, shape, data).map(|v| (name, v))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut outputs = self
            .session
            .run(values)
            .map_err(|e| RuntimeError::Inference(e.to_string()))?;
        self.outputs
            .iter()
            .map(|spec| {
                let value = outputs.remove(&spec.name).ok_or_else(|| {
                    RuntimeError::Inference(format!("the model produced no output `{}`", spec.name))
                })?;
                from_value(&spec.name, spec.datatype, &value)
            })
            .collect()
    }
}

fn to_value(name: &str, shape: Vec<usize>, data: TensorData) -> Result<DynValue, RuntimeError> {
    use ort::value::Tensor as OrtTensor;
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let value = match data {
        TensorData::Bool(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::U8(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::U16(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::U32(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::U64(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::I8(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::I16(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::I32(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::I64(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::F16(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::F32(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::F64(v) => OrtTensor::from_array((dims, v)).map(|t| t.into_dyn()),
        TensorData::Bytes(v) => {
            let strings = v
                .into_iter()
                .map(String::from_utf8)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    RuntimeError::InvalidInput(format!(
                        "input `{name}`: ONNX string tensors must be UTF-8"
                    ))
                })?;
            OrtTensor::from_string_array((dims, strings.as_slice())).map(|t| t.into_dyn())
        }
    };
    value.map_err(|e| RuntimeError::Inference(format!("input `{name}`: {e}")))
}

fn from_value(name: &str, datatype: DataType, value: &DynValue) -> Result<Tensor, RuntimeError> {
    fn extract<T: ort::value::PrimitiveTensorElementType + Clone>(
        value: &DynValue,
    ) -> ort::Result<(Vec<usize>, Vec<T>)> {
        let (shape, data) = value.try_extract_tensor::<T>()?;
        Ok((
            shape.iter().map(|&d| d.max(0) as usize).collect(),
            data.to_vec(),
        ))
    }
    let extracted = match datatype {
        DataType::Bool => extract(value).map(|(s, v)| (s, TensorData::Bool(v))),
        DataType::U8 => extract(value).map(|(s, v)| (s, TensorData::U8(v))),
        DataType::U16 => extract(value).map(|(s, v)| (s, TensorData::U16(v))),
        DataType::U32 => extract(value).map(|(s, v)| (s, TensorData::U32(v))),
        DataType::U64 => extract(value).map(|(s, v)| (s, TensorData::U64(v))),
        DataType::I8 => extract(value).map(|(s, v)| (s, TensorData::I8(v))),
        DataType::I16 => extract(value).map(|(s, v)| (s, TensorData::I16(v))),
        DataType::I32 => extract(value).map(|(s, v)| (s, TensorData::I32(v))),
        DataType::I64 => extract(value).map(|(s, v)| (s, TensorData::I64(v))),
        DataType::F16 => extract(value).map(|(s, v)| (s, TensorData::F16(v))),
        DataType::F32 => extract(value).map(|(s, v)| (s, TensorData::F32(v))),
        DataType::F64 => extract(value).map(|(s, v)| (s, TensorData::F64(v))),
        DataType::Bytes => value.try_extract_strings().map(|(s, v)| {
            (
                s.iter().map(|&d| d.max(0) as usize).collect(),
                TensorData::Bytes(v.into_iter().map(String::into_bytes).collect()),
            )
        }),
    };
    let (shape, data) =
        extracted.map_err(|e| RuntimeError::Inference(format!("output `{name}`: {e}")))?;
    Tensor::new(name, shape, data).map_err(|e| RuntimeError::Inference(e.to_string()))
}
