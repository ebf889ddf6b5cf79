//! The ORC wrapper: compile, call, link Rust helpers, free, report errors.

use fusevm_llvm_backend::inkwell::context::ContextRef;
use fusevm_llvm_backend::inkwell::module::Module;
use fusevm_llvm_backend::{DumpOptions, Error, Jit};

/// Builds `i64 name(i64 x) { return x * k + helper?(x) }`.
fn build_fn<'ctx>(
    ctx: ContextRef<'ctx>,
    module: &Module<'ctx>,
    name: &str,
    k: i64,
    helper: Option<&str>,
) -> Result<(), String> {
    let i64t = ctx.i64_type();
    let fnty = i64t.fn_type(&[i64t.into()], false);
    let f = module.add_function(name, fnty, None);
    let b = ctx.create_builder();
    b.position_at_end(ctx.append_basic_block(f, "entry"));
    let x = f.get_nth_param(0).unwrap().into_int_value();
    let kx = b
        .build_int_mul(x, i64t.const_int(k as u64, true), "kx")
        .map_err(|e| e.to_string())?;
    let r = match helper {
        Some(h) => {
            let hf = module.add_function(h, fnty, None);
            let call = b
                .build_call(hf, &[x.into()], "h")
                .map_err(|e| e.to_string())?;
            let hv = call.try_as_basic_value().basic().unwrap().into_int_value();
            b.build_int_add(kx, hv, "r").map_err(|e| e.to_string())?
        }
        None => kx,
    };
    b.build_return(Some(&r)).map_err(|e| e.to_string())?;
    Ok(())
}

/// A builder result as the `String` error `compile` wants.
fn e<T>(r: Result<T, fusevm_llvm_backend::inkwell::builder::BuilderError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

fn call(addr: usize, x: i64) -> i64 {
    // SAFETY: every function these tests compile is `extern "C" fn(i64) -> i64`,
    // and the caller keeps its `Compiled` alive across the call.
    let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr) };
    f(x)
}

extern "C" fn add_one_hundred(x: i64) -> i64 {
    x + 100
}

#[test]
fn compiles_and_runs_a_function() {
    let jit = Jit::new().unwrap();
    let code = jit
        .compile("m", &["triple"], DumpOptions::default(), |c, m| {
            build_fn(c, m, "triple", 3, None)
        })
        .unwrap();
    assert_eq!(call(code.addresses()[0], 14), 42);
    assert_eq!(code.lookup("triple").unwrap(), code.addresses()[0]);
}

#[test]
fn jit_code_calls_a_rust_helper_through_an_absolute_symbol() {
    let jit = Jit::new().unwrap();
    jit.define_symbol("rt_add_one_hundred", add_one_hundred as *const () as usize)
        .unwrap();
    let code = jit
        .compile("m", &["f"], DumpOptions::default(), |c, m| {
            build_fn(c, m, "f", 2, Some("rt_add_one_hundred"))
        })
        .unwrap();
    assert_eq!(call(code.addresses()[0], 5), 10 + 105);
    // A second definition of the same name is refused.
    let again = jit.define_symbol("rt_add_one_hundred", add_one_hundred as *const () as usize);
    assert!(matches!(again, Err(Error::Codegen(_))), "{again:?}");
}

#[test]
fn dropping_compiled_code_frees_its_symbols() {
    let jit = Jit::new().unwrap();
    for k in 0..50 {
        let code = jit
            .compile("m", &["g"], DumpOptions::default(), |c, m| {
                build_fn(c, m, "g", k, None)
            })
            .unwrap();
        // The name is free again each time: the previous module was removed.
        assert_eq!(call(code.addresses()[0], 2), 2 * k);
    }
    let held = jit
        .compile("m", &["h"], DumpOptions::default(), |c, m| {
            build_fn(c, m, "h", 1, None)
        })
        .unwrap();
    let dup = jit.compile("m2", &["h"], DumpOptions::default(), |c, m| {
        build_fn(c, m, "h", 2, None)
    });
    assert!(
        dup.is_err(),
        "a live module's symbol can't be defined twice"
    );
    drop(held);
    let again = jit
        .compile("m3", &["h"], DumpOptions::default(), |c, m| {
            build_fn(c, m, "h", 5, None)
        })
        .expect("once freed, the name can be defined again");
    assert_eq!(call(again.addresses()[0], 2), 10);
}

#[test]
fn builder_errors_come_back_as_build_errors() {
    let jit = Jit::new().unwrap();
    let r = jit.compile("m", &[], DumpOptions::default(), |_, _| {
        Err("unsupported op at 7".into())
    });
    assert_eq!(r.err(), Some(Error::Build("unsupported op at 7".into())));
}

#[test]
fn invalid_ir_is_a_verify_error() {
    let jit = Jit::new().unwrap();
    let r = jit.compile("m", &[], DumpOptions::default(), |ctx, module| {
        let f = module.add_function("f", ctx.i64_type().fn_type(&[], false), None);
        ctx.append_basic_block(f, "no_terminator");
        Ok(())
    });
    assert!(matches!(r, Err(Error::Verify(_))), "{:?}", r.err());
}

#[test]
fn missing_symbols_are_errors_naming_them() {
    let jit = Jit::new().unwrap();
    let r = jit.compile("m", &["nope"], DumpOptions::default(), |c, m| {
        build_fn(c, m, "f", 1, None)
    });
    match r {
        Err(Error::Lookup { name, .. }) => assert_eq!(name, "nope"),
        other => panic!("{:?}", other.err()),
    }
    // An undefined external surfaces through the error reporter.
    let r = jit.compile("m", &["f2"], DumpOptions::default(), |c, m| {
        build_fn(c, m, "f2", 1, Some("rt_not_defined_anywhere"))
    });
    match r {
        Err(Error::Lookup { message, .. }) => {
            assert!(message.contains("rt_not_defined_anywhere"), "{message}")
        }
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn dumps_keep_ir_before_and_after_o2_and_assembly_and_the_object_file_is_always_kept() {
    let jit = Jit::new().unwrap();
    let dumps = DumpOptions {
        ir_before: true,
        ir_after: true,
        asm: true,
    };
    let code = jit
        .compile("m", &["sum"], dumps, |ctx, module| {
            // sum(n) = Σ_{i<n} i via an alloca'd counter: O2 must remove the
            // memory traffic (and may close the form).
            let i64t = ctx.i64_type();
            let f = module.add_function("sum", i64t.fn_type(&[i64t.into()], false), None);
            let b = ctx.create_builder();
            let entry = ctx.append_basic_block(f, "entry");
            let head = ctx.append_basic_block(f, "head");
            let body = ctx.append_basic_block(f, "body");
            let exit = ctx.append_basic_block(f, "exit");
            b.position_at_end(entry);
            let i = e(b.build_alloca(i64t, "i"))?;
            let s = e(b.build_alloca(i64t, "s"))?;
            e(b.build_store(i, i64t.const_zero()))?;
            e(b.build_store(s, i64t.const_zero()))?;
            e(b.build_unconditional_branch(head))?;
            b.position_at_end(head);
            let iv = e(b.build_load(i64t, i, "iv"))?.into_int_value();
            let n = f.get_nth_param(0).unwrap().into_int_value();
            let lt = e(b.build_int_compare(
                fusevm_llvm_backend::inkwell::IntPredicate::SLT,
                iv,
                n,
                "lt",
            ))?;
            e(b.build_conditional_branch(lt, body, exit))?;
            b.position_at_end(body);
            let sv = e(b.build_load(i64t, s, "sv"))?.into_int_value();
            let iv2 = e(b.build_load(i64t, i, "iv2"))?.into_int_value();
            e(b.build_store(s, e(b.build_int_add(sv, iv2, "s2"))?))?;
            e(b.build_store(i, e(b.build_int_add(iv2, i64t.const_int(1, false), "i2"))?))?;
            e(b.build_unconditional_branch(head))?;
            b.position_at_end(exit);
            let out = e(b.build_load(i64t, s, "out"))?;
            e(b.build_return(Some(&out)))?;
            Ok(())
        })
        .unwrap();
    assert_eq!(call(code.addresses()[0], 10), 45);
    let before = code.ir_before.as_deref().unwrap();
    let after = code.ir_after.as_deref().unwrap();
    assert!(before.contains("alloca"), "{before}");
    assert!(
        !after.contains("alloca"),
        "O2 promotes memory to registers:\n{after}"
    );
    let object = code.object.as_deref().unwrap();
    assert!(object.len() > 64);
    if cfg!(target_os = "linux") {
        assert_eq!(&object[..4], b"\x7fELF");
    }
    let asm = code.asm.as_deref().unwrap();
    assert!(asm.contains("sum:") && asm.contains("ret"), "{asm}");
    assert!(code.timings.codegen > std::time::Duration::ZERO);
    assert!(code.timings.link > std::time::Duration::ZERO);
    assert!(code.timings.optimize > std::time::Duration::ZERO);
}

#[test]
fn compiles_on_several_threads_at_once() {
    let jit = Jit::new().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let jit = jit.clone();
            std::thread::spawn(move || {
                let name = format!("t{t}");
                let code = jit
                    .compile(&name, &[&name], DumpOptions::default(), |c, m| {
                        build_fn(c, m, &name, t + 1, None)
                    })
                    .unwrap();
                call(code.addresses()[0], 10)
            })
        })
        .collect();
    let got: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec![10, 20, 30, 40]);
}

#[test]
fn host_cpu_is_known() {
    assert!(!Jit::host_cpu().is_empty());
}

#[test]
fn an_object_from_compile_loads_again_and_links_its_helpers_by_name() {
    let jit = Jit::new().unwrap();
    jit.define_symbol("helper_obj", add_one_hundred as *const () as usize)
        .unwrap();
    let first = jit
        .compile("m", &["obj_a"], DumpOptions::default(), |c, m| {
            build_fn(c, m, "obj_a", 2, Some("helper_obj"))
        })
        .unwrap();
    let object = first.object.clone().unwrap();
    assert_eq!(call(first.addresses()[0], 5), 115);
    // Its code freed, the same symbol can be linked again.
    drop(first);
    let loaded = jit.load_object(&["obj_a"], &object).unwrap();
    assert_eq!(call(loaded.addresses()[0], 5), 115);
    assert!(loaded.object.is_none());
    assert_eq!(loaded.timings.optimize, std::time::Duration::ZERO);
    // A second JIT (standing for another process) links it too.
    let other = Jit::new().unwrap();
    other
        .define_symbol("helper_obj", add_one_hundred as *const () as usize)
        .unwrap();
    let again = other.load_object(&["obj_a"], &object).unwrap();
    assert_eq!(call(again.addresses()[0], -1), 97);
}

#[test]
fn target_identity_names_llvm_19_and_the_host_cpu() {
    let id = Jit::target_identity();
    assert!(id.llvm_version.starts_with("19."), "{id:?}");
    assert_eq!(id.cpu, Jit::host_cpu());
    assert!(!id.triple.is_empty() && !id.features.is_empty(), "{id:?}");
}
