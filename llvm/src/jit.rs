//! The ORC session: one LLJIT for the host CPU, modules compiled into it at
//! O2, each under its own resource tracker so its code can be freed.

use crate::error::{Error, take_error};
use inkwell::OptimizationLevel;
use inkwell::context::ContextRef;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine,
};
use llvm_sys::core::{LLVMCreateMemoryBufferWithMemoryRangeCopy, LLVMGetVersion};
use llvm_sys::error::LLVMErrorRef;
use llvm_sys::orc2::lljit::{
    LLVMOrcCreateLLJIT, LLVMOrcCreateLLJITBuilder, LLVMOrcDisposeLLJIT,
    LLVMOrcLLJITAddObjectFileWithRT, LLVMOrcLLJITBuilderSetJITTargetMachineBuilder,
    LLVMOrcLLJITGetExecutionSession, LLVMOrcLLJITGetMainJITDylib, LLVMOrcLLJITLookup,
    LLVMOrcLLJITMangleAndIntern, LLVMOrcLLJITRef,
};
use llvm_sys::orc2::{
    LLVMJITEvaluatedSymbol, LLVMJITSymbolFlags, LLVMJITSymbolGenericFlags, LLVMOrcAbsoluteSymbols,
    LLVMOrcCSymbolMapPair, LLVMOrcCreateNewThreadSafeContext, LLVMOrcDisposeMaterializationUnit,
    LLVMOrcDisposeThreadSafeContext, LLVMOrcExecutionSessionSetErrorReporter,
    LLVMOrcJITDylibCreateResourceTracker, LLVMOrcJITDylibDefine,
    LLVMOrcJITTargetMachineBuilderDetectHost, LLVMOrcReleaseResourceTracker,
    LLVMOrcResourceTrackerRef, LLVMOrcResourceTrackerRemove, LLVMOrcThreadSafeContextGetContext,
};
use std::ffi::{CString, c_void};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What to keep from a compilation for debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// Keep the LLVM IR as built, before optimisation.
    pub ir_before: bool,
    /// Keep the LLVM IR after `default<O2>`.
    pub ir_after: bool,
    /// Keep the machine code as assembly text.
    pub asm: bool,
}

/// Where the time of one compilation went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileTimings {
    /// Running the caller's IR builder, plus verification.
    pub build_ir: Duration,
    /// The `default<O2>` pipeline.
    pub optimize: Duration,
    /// Generating machine code (an object file) from the optimised IR.
    pub codegen: Duration,
    /// Linking the object into the JIT and looking the entries up (the
    /// whole cost of loading a stored object).
    pub link: Duration,
}

/// What generated code depends on besides its IR: an object built under
/// one identity must never be linked under another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetIdentity {
    /// LLVM's version, `major.minor.patch`.
    pub llvm_version: String,
    /// The target triple.
    pub triple: String,
    /// The host CPU name code is generated for.
    pub cpu: String,
    /// The host CPU's features (`+avx2,-avx512f,...`).
    pub features: String,
}

/// Code compiled from one module. Its machine code lives until this is
/// dropped (then ORC frees it); it keeps the JIT itself alive.
pub struct Compiled {
    jit: Arc<Session>,
    tracker: LLVMOrcResourceTrackerRef,
    addresses: Vec<usize>,
    /// Where the time went.
    pub timings: CompileTimings,
    /// IR before optimisation, if requested.
    pub ir_before: Option<String>,
    /// IR after optimisation, if requested.
    pub ir_after: Option<String>,
    /// The object file the machine code was linked from (always there
    /// after [`Jit::compile`]; `None` after [`Jit::load_object`], whose
    /// caller has the bytes).
    pub object: Option<Vec<u8>>,
    /// Assembly text, if asked for.
    pub asm: Option<String>,
}

impl Compiled {
    /// Addresses of the entries asked for, in order. They are valid only
    /// while this value lives: whoever turns one into a function pointer
    /// (an `unsafe` act) must keep the `Compiled` alive across every call.
    pub fn addresses(&self) -> &[usize] {
        &self.addresses
    }

    /// The address of any symbol of this JIT (for entries not requested up
    /// front).
    pub fn lookup(&self, name: &str) -> Result<usize, Error> {
        self.jit.lookup(name)
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let _linking = self.jit.linking.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `tracker` was created by this session's main JITDylib and
        // is owned by this value alone; the session outlives it (the Arc).
        // Removing it frees exactly this module's code; releasing drops our
        // reference. (Calling an address after this is the caller's bug:
        // see `addresses`.)
        unsafe {
            if let Some(msg) = take_error(LLVMOrcResourceTrackerRemove(self.tracker)) {
                self.jit.report(format!("freeing compiled code: {msg}"));
            }
            LLVMOrcReleaseResourceTracker(self.tracker);
        }
    }
}

// SAFETY: a resource tracker is only used in `Drop`, and ORC's tracker
// removal is thread-safe; the rest of `Compiled` is plain data.
unsafe impl Send for Compiled {}
// SAFETY: `&Compiled` exposes only plain data (addresses, timings, dumps);
// the tracker is never touched through a shared reference.
unsafe impl Sync for Compiled {}

/// An ORC LLJIT for the host CPU. Cheap to clone (a shared handle); the JIT
/// is disposed when the last handle and the last [`Compiled`] are gone.
#[derive(Clone)]
pub struct Jit(Arc<Session>);

struct Session {
    raw: LLVMOrcLLJITRef,
    /// Held while ORC links (adding, looking up, removing). Building IR,
    /// optimising and generating objects run outside it, in parallel (each
    /// compilation has its own target machine).
    linking: Mutex<()>,
    /// Messages ORC reported asynchronously (the reporter's context; boxed
    /// so its address is stable).
    reported: Box<Mutex<Vec<String>>>,
}

// SAFETY: LLJIT's session is thread-safe for adding objects, defining
// symbols and lookups, and we serialise linking besides (`linking`);
// `reported` is behind a Mutex.
unsafe impl Send for Session {}
// SAFETY: as above; no method gives out interior references.
unsafe impl Sync for Session {}

extern "C" fn report_error(ctx: *mut c_void, err: LLVMErrorRef) {
    let msg = take_error(err).unwrap_or_default();
    // SAFETY: `ctx` is the `Mutex` boxed in the Session that installed this
    // reporter; the session disposes the JIT (so the reporter) before the box.
    let reported = unsafe { &*(ctx as *const Mutex<Vec<String>>) };
    reported.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
}

/// Initialises LLVM's native target and our code generation options once
/// per process.
fn init_llvm() -> Result<(), Error> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        Target::initialize_native(&InitializationConfig::default())?;
        set_codegen_options();
        Ok(())
    })
    .clone()
    .map_err(Error::Setup)
}

/// LLVM options code generation reads (process-wide, set once before any
/// compilation).
///
/// `-disable-x86-domain-reassignment`: on a CPU with AVX-512 that pass
/// looks for integer logic to move into mask registers; our code has none
/// (objects come out byte-identical without it), yet its cost grows with
/// the square of a function's size: 1.1 s of n-body's 1.7 s of code
/// generation. Other targets register the option too and ignore it.
fn set_codegen_options() {
    let args = [
        c"fusevm-llvm".as_ptr(),
        c"-disable-x86-domain-reassignment".as_ptr(),
    ];
    // SAFETY: two NUL-terminated strings that outlive the call; LLVM copies
    // what it keeps. A null overview is allowed. Unknown options are
    // reported to a null stream and ignored (the C API never exits). Called
    // once, inside `init_llvm`'s OnceLock, before any code is generated.
    unsafe {
        llvm_sys::support::LLVMParseCommandLineOptions(
            args.len() as i32,
            args.as_ptr(),
            std::ptr::null(),
        )
    };
}

impl Session {
    fn report(&self, msg: String) {
        self.reported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg);
    }

    /// Messages reported since the last call, joined.
    fn drain_reported(&self) -> String {
        let mut r = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let joined = r.join("; ");
        r.clear();
        joined
    }

    fn lookup(&self, name: &str) -> Result<usize, Error> {
        let _linking = self.linking.lock().unwrap_or_else(|e| e.into_inner());
        self.lookup_locked(name)
    }

    /// `lookup` for a caller already holding `linking`.
    fn lookup_locked(&self, name: &str) -> Result<usize, Error> {
        let cname = CString::new(name).map_err(|_| Error::Lookup {
            name: name.into(),
            message: "name contains a NUL byte".into(),
        })?;
        let mut addr = 0u64;
        // SAFETY: `raw` is a live LLJIT; `cname` outlives the call; `addr` is
        // a valid out-pointer.
        let err = unsafe { LLVMOrcLLJITLookup(self.raw, &mut addr, cname.as_ptr()) };
        match take_error(err) {
            None if addr != 0 => Ok(addr as usize),
            other => {
                let reported = self.drain_reported();
                let mut message = other.unwrap_or_else(|| "symbol has address 0".into());
                if !reported.is_empty() {
                    message = format!("{message} ({reported})");
                }
                Err(Error::Lookup {
                    name: name.into(),
                    message,
                })
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: last handle: no Compiled and no Jit refer to `raw` any more.
        let err = unsafe { LLVMOrcDisposeLLJIT(self.raw) };
        let _ = take_error(err);
    }
}

// ── target machines ──

/// The host CPU's name and features, asked of the CPU once per process
/// (each ask runs `cpuid` many times: slow under a hypervisor).
fn host_cpu_strings() -> &'static (String, String) {
    static HOST: OnceLock<(String, String)> = OnceLock::new();
    HOST.get_or_init(|| {
        (
            TargetMachine::get_host_cpu_name()
                .to_string_lossy()
                .into_owned(),
            TargetMachine::get_host_cpu_features()
                .to_string_lossy()
                .into_owned(),
        )
    })
}

/// A target machine for the host CPU and its features (what O2 plans for).
fn host_target_machine() -> Result<TargetMachine, Error> {
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| Error::Setup(e.to_string()))?;
    let (cpu, features) = host_cpu_strings();
    target
        .create_target_machine(
            &triple,
            cpu,
            features,
            OptimizationLevel::Default,
            RelocMode::PIC,
            CodeModel::Default,
        )
        .ok_or_else(|| Error::Setup(format!("no target machine for {triple}")))
}

/// A target machine lent to one compilation at a time.
struct PooledMachine(TargetMachine);

// SAFETY: a TargetMachine is not used by two threads at once here: it is
// either in the pool (behind its mutex) or owned by the one compilation
// that took it out. LLVM keeps no thread affinity for it.
unsafe impl Send for PooledMachine {}

/// Target machines between compilations. Making one parses the host's
/// features into a subtarget that O2 and code generation then reuse:
/// about a tenth of a small unit's compile time, paid once per machine
/// instead of once per unit. The pool holds as many as ever compiled at
/// once and is never dropped (no destructor races LLVM's at exit).
static MACHINES: Mutex<Vec<PooledMachine>> = Mutex::new(Vec::new());

/// Takes a target machine from the pool, or makes one.
fn take_machine() -> Result<TargetMachine, Error> {
    let pooled = MACHINES.lock().unwrap_or_else(|e| e.into_inner()).pop();
    match pooled {
        Some(PooledMachine(tm)) => Ok(tm),
        None => host_target_machine(),
    }
}

/// Returns a target machine to the pool.
fn give_back(tm: TargetMachine) {
    MACHINES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(PooledMachine(tm));
}

impl Jit {
    /// Creates an LLJIT generating code for the host CPU.
    pub fn new() -> Result<Jit, Error> {
        init_llvm()?;
        // SAFETY: standard ORC setup. The builder and the target machine
        // builder are consumed by the calls that take them; on error nothing
        // is left to dispose but the error itself (consumed by take_error).
        let raw = unsafe {
            let builder = LLVMOrcCreateLLJITBuilder();
            let mut jtmb = std::ptr::null_mut();
            if let Some(msg) = take_error(LLVMOrcJITTargetMachineBuilderDetectHost(&mut jtmb)) {
                llvm_sys::orc2::lljit::LLVMOrcDisposeLLJITBuilder(builder);
                return Err(Error::Setup(msg));
            }
            LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
            let mut raw = std::ptr::null_mut();
            if let Some(msg) = take_error(LLVMOrcCreateLLJIT(&mut raw, builder)) {
                return Err(Error::Setup(msg));
            }
            raw
        };
        let session = Session {
            raw,
            linking: Mutex::new(()),
            reported: Box::new(Mutex::new(Vec::new())),
        };
        let ctx = &*session.reported as *const Mutex<Vec<String>> as *mut c_void;
        // SAFETY: `raw` is live; `ctx` points into the box the session owns
        // and drops only after disposing the JIT.
        unsafe {
            LLVMOrcExecutionSessionSetErrorReporter(
                LLVMOrcLLJITGetExecutionSession(raw),
                report_error,
                ctx,
            );
        }
        Ok(Jit(Arc::new(session)))
    }

    /// The host CPU name code is generated for (e.g. `znver3`).
    pub fn host_cpu() -> String {
        host_cpu_strings().0.clone()
    }

    /// Makes `name` resolve to `address` in code compiled afterwards: how
    /// JIT code calls Rust `extern "C"` helpers. Defining a name twice is an
    /// error.
    pub fn define_symbol(&self, name: &str, address: usize) -> Result<(), Error> {
        let cname =
            CString::new(name).map_err(|_| Error::Codegen(format!("symbol `{name}` has a NUL")))?;
        let raw = self.0.raw;
        // SAFETY: `raw` is live; MangleAndIntern returns an owned pool entry
        // that AbsoluteSymbols takes over; Define takes the materialisation
        // unit on success, so we dispose it only on failure.
        let err = unsafe {
            let mut pair = LLVMOrcCSymbolMapPair {
                Name: LLVMOrcLLJITMangleAndIntern(raw, cname.as_ptr()),
                Sym: LLVMJITEvaluatedSymbol {
                    Address: address as u64,
                    Flags: LLVMJITSymbolFlags {
                        GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported
                            as u8
                            | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
                        TargetFlags: 0,
                    },
                },
            };
            let mu = LLVMOrcAbsoluteSymbols(&mut pair, 1);
            let err = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(raw), mu);
            if !err.is_null() {
                LLVMOrcDisposeMaterializationUnit(mu);
            }
            err
        };
        match take_error(err) {
            None => Ok(()),
            Some(msg) => Err(Error::Codegen(format!("defining `{name}`: {msg}"))),
        }
    }

    /// What code generated in this process depends on besides its IR
    /// (part of every persistent cache key).
    pub fn target_identity() -> TargetIdentity {
        let (mut major, mut minor, mut patch) = (0, 0, 0);
        // SAFETY: three valid out-pointers; LLVMGetVersion only writes them.
        unsafe { LLVMGetVersion(&mut major, &mut minor, &mut patch) };
        TargetIdentity {
            llvm_version: format!("{major}.{minor}.{patch}"),
            triple: TargetMachine::get_default_triple()
                .as_str()
                .to_string_lossy()
                .into_owned(),
            cpu: Jit::host_cpu(),
            features: host_cpu_strings().1.clone(),
        }
    }

    /// Builds a module with `build`, verifies it, optimises it with
    /// `default<O2>` for the host CPU, generates an object file, links it
    /// into the JIT and looks up `entries` (so every cost is paid here and
    /// timed). The object's bytes come back in [`Compiled::object`]: a
    /// caller may store them and [`Jit::load_object`] them in another
    /// process, under the same [`Jit::target_identity`].
    ///
    /// `build` gets a context and an empty module; whatever it builds can't
    /// escape it (the lifetime is its own). An `Err` from it is returned as
    /// [`Error::Build`].
    pub fn compile<F>(
        &self,
        module_name: &str,
        entries: &[&str],
        dumps: DumpOptions,
        build: F,
    ) -> Result<Compiled, Error>
    where
        F: for<'ctx> FnOnce(ContextRef<'ctx>, &Module<'ctx>) -> Result<(), String>,
    {
        let tm = take_machine()?;
        // SAFETY: ORC's thread-safe context gives us an LLVM context we only
        // borrow through a non-owning ContextRef (never `Context`, whose
        // Drop would free it a second time).
        let tsc = unsafe { LLVMOrcCreateNewThreadSafeContext() };
        // SAFETY: `tsc` is live until disposed below, after the module built
        // in it has been dropped (inside `lower`).
        let ctx = unsafe { ContextRef::new(LLVMOrcThreadSafeContextGetContext(tsc)) };
        let lowered = self.lower(ctx, &tm, module_name, dumps, build);
        give_back(tm);
        // SAFETY: the module built in the context is gone (`lower` drops it
        // on every path), so nothing refers to the context any more.
        unsafe { LLVMOrcDisposeThreadSafeContext(tsc) };
        let unit = lowered?;
        let mut compiled = self.link(module_name, entries, &unit.object)?;
        compiled.timings.build_ir = unit.timings.build_ir;
        compiled.timings.optimize = unit.timings.optimize;
        compiled.timings.codegen = unit.timings.codegen;
        compiled.ir_before = unit.ir_before;
        compiled.ir_after = unit.ir_after;
        compiled.asm = unit.asm;
        compiled.object = Some(unit.object);
        Ok(compiled)
    }

    /// Links an object file made by [`Jit::compile`] (in this process or
    /// another with the same [`Jit::target_identity`]) and looks up
    /// `entries`. Its undefined symbols resolve by name against what
    /// [`Jit::define_symbol`] defined here.
    ///
    /// Symbols share one JITDylib: the caller links an object only while no
    /// other live [`Compiled`] defines the same names.
    ///
    /// The bytes must come from `compile`: LLVM's object reader is not
    /// hardened against hostile input, so a caller reading them back from
    /// storage verifies them (a strong checksum) first.
    pub fn load_object(&self, entries: &[&str], object: &[u8]) -> Result<Compiled, Error> {
        self.link("stored object", entries, object)
    }

    /// Adds `object` under its own resource tracker and resolves `entries`.
    fn link(&self, name: &str, entries: &[&str], object: &[u8]) -> Result<Compiled, Error> {
        let cname = CString::new(name).unwrap_or_default();
        let linking = self.0.linking.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now();
        // SAFETY: the memory buffer is a copy of `object` (LLVM owns it);
        // AddObjectFileWithRT consumes it even when it fails; the tracker
        // comes from the main JITDylib and is owned by `compiled` below.
        let (tracker, err) = unsafe {
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                object.as_ptr().cast(),
                object.len(),
                cname.as_ptr(),
            );
            let tracker =
                LLVMOrcJITDylibCreateResourceTracker(LLVMOrcLLJITGetMainJITDylib(self.0.raw));
            (
                tracker,
                LLVMOrcLLJITAddObjectFileWithRT(self.0.raw, tracker, buf),
            )
        };
        // From here the tracker is owned by `compiled`: on any error it is
        // dropped, which frees whatever ORC added.
        let mut compiled = Compiled {
            jit: Arc::clone(&self.0),
            tracker,
            addresses: Vec::new(),
            timings: CompileTimings::default(),
            ir_before: None,
            ir_after: None,
            object: None,
            asm: None,
        };
        let linked = match take_error(err) {
            Some(msg) => Err(Error::Codegen(msg)),
            None => entries
                .iter()
                .map(|e| self.0.lookup_locked(e))
                .collect::<Result<Vec<_>, _>>(),
        };
        compiled.timings.link = t.elapsed();
        // Release the lock before `compiled` can drop (its Drop takes it).
        drop(linking);
        compiled.addresses = linked?;
        Ok(compiled)
    }

    /// Runs the builder, verifies, optimises and generates the object; the
    /// module is dropped (before the context) on every path.
    fn lower<'ctx, F>(
        &self,
        ctx: ContextRef<'ctx>,
        tm: &TargetMachine,
        module_name: &str,
        dumps: DumpOptions,
        build: F,
    ) -> Result<Lowered, Error>
    where
        F: for<'c> FnOnce(ContextRef<'c>, &Module<'c>) -> Result<(), String>,
    {
        let mut unit = Lowered::default();
        let t = Instant::now();
        let module = ctx.create_module(module_name);
        module.set_triple(&tm.get_triple());
        module.set_data_layout(&tm.get_target_data().get_data_layout());
        build(ctx, &module).map_err(Error::Build)?;
        module
            .verify()
            .map_err(|e| Error::Verify(e.to_string_lossy().into_owned()))?;
        unit.timings.build_ir = t.elapsed();
        if dumps.ir_before {
            unit.ir_before = Some(module.print_to_string().to_string_lossy().into_owned());
        }
        let t = Instant::now();
        module
            .run_passes("default<O2>", tm, PassBuilderOptions::create())
            .map_err(|e| Error::Optimize(e.to_string_lossy().into_owned()))?;
        unit.timings.optimize = t.elapsed();
        if dumps.ir_after {
            unit.ir_after = Some(module.print_to_string().to_string_lossy().into_owned());
        }
        let t = Instant::now();
        let buf = tm
            .write_to_memory_buffer(&module, FileType::Object)
            .map_err(|e| Error::Codegen(e.to_string_lossy().into_owned()))?;
        unit.object = buf.as_slice().to_vec();
        unit.timings.codegen = t.elapsed();
        if dumps.asm {
            let buf = tm
                .write_to_memory_buffer(&module, FileType::Assembly)
                .map_err(|e| Error::Codegen(e.to_string_lossy().into_owned()))?;
            unit.asm = Some(String::from_utf8_lossy(buf.as_slice()).into_owned());
        }
        Ok(unit)
    }
}

/// What `lower` produces besides the module.
#[derive(Default)]
struct Lowered {
    timings: CompileTimings,
    ir_before: Option<String>,
    ir_after: Option<String>,
    object: Vec<u8>,
    asm: Option<String>,
}
