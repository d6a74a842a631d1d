//! `tchdist::autograd::grad` and `tchdist::autograd::functional` raise where PyTorch raises,
//! with PyTorch's message and exception kind, on a table of bad calls run through live PyTorch;
//! and the embedded jvp decompositions are the graphs PyTorch registers.
#![allow(dead_code)]

mod common;

use common::{check_bitwise_eq, json_bits, json_shape, random_scale_tril, run_python_stdin, Rng};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};
use tchdist::autograd::functional::{
    hessian, hessian_multi, hvp, jacobian, jacobian_multi, jvp, vhp, vjp, HessianOptions,
    JacobianOptions, ProductOptions, Strategy,
};
use tchdist::autograd::{grad, GradOptions};
use tchdist::distributions::{Distribution, MultivariateNormal};
use tchdist::Error;

// The function table, the random cases and both interpreters, shared by the three files.
include!("common/functional_cases.rs");

// ---------------------------------------------------------------------------------------------
// Live parity: errors.

/// Builds the error table's cases: random values of the given shapes (`&[]` is a 0-dim
/// tensor), float64 unless changed.
struct Table {
    rng: Rng,
    cases: Vec<(Case, bool)>,
}

impl Table {
    /// Adds a case that PyTorch must reject (`raises`) or accept; `edit` sets its options.
    fn add(
        &mut self,
        label: &'static str,
        family: Family,
        func: &'static str,
        shapes: &[&[i64]],
        raises: bool,
        edit: impl FnOnce(&mut Case, &mut Rng),
    ) {
        let f = find(func);
        let rng = &mut self.rng;
        let inputs: Vec<Spec> = shapes
            .iter()
            .map(|s| Spec::random(rng, s, -1.5, 1.5).requiring_grad(family == Family::Grad))
            .collect();
        let mut case = Case::new(family, func, false, inputs);
        case.label = label;
        if family == Family::Grad {
            case.grad_of = (0..f.outputs).collect();
            case.wrt = (0..shapes.len()).collect();
        }
        edit(&mut case, rng);
        self.cases.push((case, raises));
    }
}

fn specs(rng: &mut Rng, shapes: &[&[i64]]) -> Vec<Spec> {
    shapes
        .iter()
        .map(|s| Spec::random(rng, s, -1.0, 1.0))
        .collect()
}

/// Every error path of `torch.autograd.grad` and `torch.autograd.functional` that tchdist's
/// API can reach, plus neighbours that must succeed.
fn error_table() -> Vec<(Case, bool)> {
    use Family::*;
    let mut t = Table {
        rng: Rng::new(99),
        cases: Vec::new(),
    };
    let strict = |c: &mut Case, _: &mut Rng| c.opts.strict = true;
    let strict_cg = |c: &mut Case, _: &mut Rng| {
        c.opts.strict = true;
        c.opts.create_graph = true;
        for s in &mut c.inputs {
            s.requires_grad = true;
        }
    };

    // jacobian
    t.add(
        "strict, output needs no grad",
        Jacobian,
        "constant",
        &[&[3]],
        true,
        strict,
    );
    t.add(
        "strict, output independent of input 1",
        Jacobian,
        "unused_input",
        &[&[2], &[3]],
        true,
        strict,
    );
    t.add(
        "strict, leaf output independent of input",
        Jacobian,
        "leaf_output",
        &[&[2]],
        true,
        strict,
    );
    t.add(
        "strict + create_graph, linear",
        Jacobian,
        "linear",
        &[&[3]],
        true,
        strict_cg,
    );
    t.add(
        "strict + create_graph, nonlinear passes",
        Jacobian,
        "elementwise",
        &[&[2, 2]],
        false,
        strict_cg,
    );
    t.add(
        "strict + vectorize",
        Jacobian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.strict = true;
            c.opts.vectorize = true;
        },
    );
    t.add(
        "forward without vectorize",
        Jacobian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
        },
    );
    t.add(
        "forward + create_graph",
        Jacobian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
            c.opts.vectorize = true;
            c.opts.create_graph = true;
        },
    );
    t.add(
        "forward + strict",
        Jacobian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
            c.opts.vectorize = true;
            c.opts.strict = true;
        },
    );
    t.add(
        "forward + strict + create_graph: create_graph first",
        Jacobian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
            c.opts.strict = true;
            c.opts.create_graph = true;
        },
    );
    t.add(
        "forward + strict, no vectorize: strict first",
        Jacobian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
            c.opts.strict = true;
        },
    );
    t.add(
        "forward mode, MVN mean that requires grad",
        Jacobian,
        "mvn_log_prob",
        &[&[2]],
        false,
        |c, rng| {
            let (inputs, consts) = random_inputs(rng, find("mvn_log_prob"));
            c.inputs = inputs;
            c.inputs[0].requires_grad = true;
            c.consts = consts;
            c.opts.vectorize = true;
            c.opts.forward = true;
        },
    );
    t.add(
        "forward mode through vector @ matrix: PyTorch's own failure",
        Jacobian,
        "matmul_chain",
        &[&[3], &[3, 1]],
        true,
        |c, _| {
            c.opts.vectorize = true;
            c.opts.forward = true;
        },
    );
    t.add(
        "forward mode inside forward mode",
        Jacobian,
        "nested_forward",
        &[&[2]],
        true,
        |c, _| {
            c.opts.vectorize = true;
            c.opts.forward = true;
        },
    );
    t.add(
        "forward mode inside reverse mode passes",
        Jacobian,
        "nested_forward",
        &[&[2]],
        false,
        |_, _| {},
    );
    t.add("no inputs, loop", Jacobian, "nullary", &[], true, |_, _| {});
    t.add(
        "no inputs, vectorize",
        Jacobian,
        "nullary",
        &[],
        true,
        |c, _| c.opts.vectorize = true,
    );
    t.add(
        "no inputs, forward",
        Jacobian,
        "nullary",
        &[],
        true,
        |c, _| {
            c.opts.vectorize = true;
            c.opts.forward = true;
        },
    );

    // hessian
    t.add(
        "not a scalar function",
        Hessian,
        "elementwise",
        &[&[3]],
        true,
        |_, _| {},
    );
    t.add(
        "not a scalar function, vectorized",
        Hessian,
        "elementwise",
        &[&[3]],
        true,
        |c, _| c.opts.vectorize = true,
    );
    t.add(
        "strict, output needs no grad (checked before the size)",
        Hessian,
        "constant",
        &[&[3]],
        true,
        strict,
    );
    t.add(
        "strict, linear: jacobian independent of input",
        Hessian,
        "linear_sum",
        &[&[3]],
        true,
        strict,
    );
    t.add(
        "strict, unused input: jacobian independent of input 1",
        Hessian,
        "unused_input",
        &[&[2], &[2]],
        true,
        strict,
    );
    t.add(
        "strict, separable: outer output 0 independent of input 1",
        Hessian,
        "separable",
        &[&[2], &[3]],
        true,
        strict,
    );
    t.add(
        "strict + create_graph, quadratic",
        Hessian,
        "quadratic",
        &[&[3]],
        true,
        strict_cg,
    );
    t.add(
        "strict + create_graph, quartic passes",
        Hessian,
        "quartic",
        &[&[3]],
        false,
        strict_cg,
    );
    t.add(
        "strict + vectorize",
        Hessian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.strict = true;
            c.opts.vectorize = true;
        },
    );
    t.add(
        "forward outer without vectorize",
        Hessian,
        "quartic",
        &[&[3]],
        true,
        |c, _| c.opts.forward = true,
    );
    t.add(
        "forward outer + create_graph",
        Hessian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
            c.opts.vectorize = true;
            c.opts.create_graph = true;
        },
    );
    t.add(
        "forward outer + strict",
        Hessian,
        "quartic",
        &[&[3]],
        true,
        |c, _| {
            c.opts.forward = true;
            c.opts.vectorize = true;
            c.opts.strict = true;
        },
    );
    t.add("no inputs", Hessian, "nullary_sum", &[], true, |_, _| {});

    // vjp
    let v = |shapes: &'static [&'static [i64]]| {
        move |c: &mut Case, rng: &mut Rng| c.v = Some(specs(rng, shapes))
    };
    t.add(
        "v None, output not one element",
        Vjp,
        "elementwise",
        &[&[3]],
        true,
        |_, _| {},
    );
    t.add(
        "v None, scalar output passes",
        Vjp,
        "quartic",
        &[&[3]],
        false,
        |_, _| {},
    );
    t.add(
        "v of the wrong size",
        Vjp,
        "elementwise",
        &[&[3]],
        true,
        v(&[&[2]]),
    );
    t.add(
        "v entry 1 of the wrong size",
        Vjp,
        "two_outputs",
        &[&[2], &[2]],
        true,
        v(&[&[2], &[3]]),
    );
    t.add(
        "v tuple of the wrong length",
        Vjp,
        "two_outputs",
        &[&[2], &[2]],
        true,
        v(&[&[2]]),
    );
    t.add(
        "two v for one output",
        Vjp,
        "elementwise",
        &[&[3]],
        true,
        v(&[&[3], &[3]]),
    );
    t.add(
        "strict, output needs no grad",
        Vjp,
        "constant",
        &[&[3]],
        true,
        |c, rng| {
            c.opts.strict = true;
            c.v = Some(specs(rng, &[&[3]]));
        },
    );
    t.add(
        "strict output check before v",
        Vjp,
        "constant",
        &[&[3]],
        true,
        |c, rng| {
            c.opts.strict = true;
            c.v = Some(specs(rng, &[&[5]]));
        },
    );
    t.add(
        "strict, unused input",
        Vjp,
        "unused_input",
        &[&[2], &[2]],
        true,
        strict,
    );
    t.add(
        "strict + create_graph, linear",
        Vjp,
        "linear",
        &[&[3]],
        true,
        |c, rng| {
            strict_cg(c, rng);
            c.v = Some(specs(rng, &[&[3]]));
        },
    );
    t.add("no inputs", Vjp, "nullary", &[], true, v(&[&[2]]));

    // jvp
    t.add(
        "v None, input not one element",
        Jvp,
        "elementwise",
        &[&[3]],
        true,
        |_, _| {},
    );
    t.add(
        "v None, one-element input passes",
        Jvp,
        "elementwise",
        &[&[1]],
        false,
        |_, _| {},
    );
    t.add(
        "v of the wrong size",
        Jvp,
        "elementwise",
        &[&[3]],
        true,
        v(&[&[1, 3]]),
    );
    t.add(
        "v entry 0 of the wrong size",
        Jvp,
        "two_outputs",
        &[&[2], &[2]],
        true,
        v(&[&[3], &[2]]),
    );
    t.add(
        "v tuple of the wrong length",
        Jvp,
        "two_outputs",
        &[&[2], &[2]],
        true,
        v(&[&[2], &[2], &[2]]),
    );
    t.add(
        "two v for one input",
        Jvp,
        "elementwise",
        &[&[3]],
        true,
        v(&[&[3], &[3]]),
    );
    t.add(
        "v checked before the function runs",
        Jvp,
        "constant",
        &[&[3]],
        true,
        |c, rng| {
            c.opts.strict = true;
            c.v = Some(specs(rng, &[&[4]]));
        },
    );
    t.add(
        "strict, output needs no grad",
        Jvp,
        "constant",
        &[&[3]],
        true,
        |c, rng| {
            c.opts.strict = true;
            c.v = Some(specs(rng, &[&[3]]));
        },
    );
    t.add(
        "strict, unused input",
        Jvp,
        "unused_input",
        &[&[2], &[2]],
        true,
        |c, rng| {
            c.opts.strict = true;
            c.v = Some(specs(rng, &[&[2], &[2]]));
        },
    );
    t.add(
        "strict + create_graph, linear",
        Jvp,
        "linear",
        &[&[3]],
        true,
        |c, rng| {
            strict_cg(c, rng);
            c.v = Some(specs(rng, &[&[3]]));
        },
    );
    t.add(
        "strict, leaf output: grad_outputs entry unused",
        Jvp,
        "leaf_output",
        &[&[2]],
        true,
        |c, rng| {
            c.opts.strict = true;
            c.v = Some(specs(rng, &[&[2]]));
        },
    );
    t.add("no inputs", Jvp, "nullary", &[], true, v(&[]));

    // vhp, hvp
    for fam in [Vhp, Hvp] {
        t.add(
            "not a scalar function",
            fam,
            "elementwise",
            &[&[3]],
            true,
            v(&[&[3]]),
        );
        t.add(
            "v None, input not one element",
            fam,
            "quartic",
            &[&[3]],
            true,
            |_, _| {},
        );
        t.add(
            "v None, one-element input passes",
            fam,
            "quartic",
            &[&[]],
            false,
            |_, _| {},
        );
        t.add(
            "v of the wrong size",
            fam,
            "quartic",
            &[&[3]],
            true,
            v(&[&[2]]),
        );
        t.add(
            "v entry 1 of the wrong size",
            fam,
            "pair_scalar",
            &[&[2], &[2]],
            true,
            v(&[&[2], &[]]),
        );
        t.add(
            "v tuple of the wrong length",
            fam,
            "pair_scalar",
            &[&[2], &[2]],
            true,
            v(&[&[2]]),
        );
        t.add(
            "strict, output needs no grad (before the size)",
            fam,
            "constant",
            &[&[3]],
            true,
            |c, rng| {
                c.opts.strict = true;
                c.v = Some(specs(rng, &[&[3]]));
            },
        );
        t.add(
            "strict, linear: jacobian independent",
            fam,
            "linear_sum",
            &[&[3]],
            true,
            |c, rng| {
                c.opts.strict = true;
                c.v = Some(specs(rng, &[&[3]]));
            },
        );
        t.add(
            "strict, unused input",
            fam,
            "unused_input",
            &[&[2], &[2]],
            true,
            |c, rng| {
                c.opts.strict = true;
                c.v = Some(specs(rng, &[&[2], &[2]]));
            },
        );
        t.add(
            "strict + create_graph, quadratic",
            fam,
            "quadratic",
            &[&[3]],
            true,
            |c, rng| {
                strict_cg(c, rng);
                c.v = Some(specs(rng, &[&[3]]));
            },
        );
        t.add(
            "strict, leaf weight: second input unreached",
            fam,
            "leaf_weight",
            &[&[2], &[2]],
            true,
            |c, rng| {
                c.opts.strict = true;
                c.v = Some(specs(rng, &[&[2], &[2]]));
            },
        );
        t.add(
            "strict + create_graph, quartic passes",
            fam,
            "quartic",
            &[&[3]],
            false,
            |c, rng| {
                strict_cg(c, rng);
                c.v = Some(specs(rng, &[&[3]]));
            },
        );
    }

    // grad
    let go = |shapes: &'static [Option<&'static [i64]>]| {
        move |c: &mut Case, rng: &mut Rng| {
            c.grad_outputs = Some(
                shapes
                    .iter()
                    .map(|s| s.map(|s| Spec::random(rng, s, -1.0, 1.0)))
                    .collect(),
            )
        }
    };
    t.add(
        "grad_output of the wrong shape",
        Grad,
        "elementwise",
        &[&[3]],
        true,
        go(&[Some(&[2])]),
    );
    t.add(
        "wrong shape at 1, index search broadcasts and fails",
        Grad,
        "two_outputs",
        &[&[3], &[3]],
        true,
        |c, rng| {
            go(&[Some(&[3]), Some(&[2])])(c, rng);
            c.grad_of = vec![0, 0];
        },
    );
    t.add(
        "wrong shape at 1, index search is ambiguous",
        Grad,
        "two_outputs",
        &[&[3], &[3]],
        true,
        go(&[Some(&[3]), Some(&[3])]),
    );
    t.add(
        "wrong shape at 1 after None, output search ambiguous",
        Grad,
        "two_outputs",
        &[&[2], &[2]],
        true,
        |c, rng| {
            go(&[None, Some(&[3])])(c, rng);
            c.grad_of = vec![1, 0];
        },
    );
    t.add(
        "wrong shape at 1, an equal earlier grad_output is named",
        Grad,
        "elementwise",
        &[&[1]],
        true,
        |c, rng| {
            go(&[Some(&[1]), Some(&[])])(c, rng);
            let g = c.grad_outputs.as_mut().expect("set");
            let value = g[0].as_ref().expect("set").values[0];
            g[1].as_mut().expect("set").values[0] = value;
            c.grad_of = vec![0, 0];
        },
    );
    t.add(
        "implicit grad of a non-scalar output",
        Grad,
        "elementwise",
        &[&[3]],
        true,
        |_, _| {},
    );
    t.add(
        "explicit None for a non-scalar output",
        Grad,
        "elementwise",
        &[&[3]],
        true,
        go(&[None]),
    );
    t.add(
        "one-element output, implicit grad passes",
        Grad,
        "elementwise",
        &[&[1, 1]],
        false,
        |_, _| {},
    );
    t.add(
        "fewer grad_outputs than outputs",
        Grad,
        "two_outputs",
        &[&[2], &[2]],
        true,
        go(&[Some(&[2])]),
    );
    t.add(
        "more grad_outputs than outputs: extras ignored",
        Grad,
        "elementwise",
        &[&[2]],
        false,
        go(&[Some(&[2]), Some(&[5])]),
    );
    t.add(
        "no grad_outputs for two outputs",
        Grad,
        "two_outputs",
        &[&[2], &[2]],
        true,
        go(&[]),
    );
    t.add(
        "output needs no grad",
        Grad,
        "constant",
        &[&[3]],
        true,
        go(&[Some(&[3])]),
    );
    t.add(
        "input needs no grad",
        Grad,
        "unused_input",
        &[&[2], &[2]],
        true,
        |c, _| {
            c.inputs[1].requires_grad = false;
            c.opts.allow_unused = Some(true);
        },
    );
    t.add(
        "unused input",
        Grad,
        "unused_input",
        &[&[2], &[2]],
        true,
        |_, _| {},
    );
    t.add(
        "unused input, allow_unused=False",
        Grad,
        "unused_input",
        &[&[2], &[2]],
        true,
        |c, _| c.opts.allow_unused = Some(false),
    );
    t.add(
        "unused input, allow_unused",
        Grad,
        "unused_input",
        &[&[2], &[2]],
        false,
        |c, _| c.opts.allow_unused = Some(true),
    );
    t.add(
        "unused input, materialize_grads",
        Grad,
        "unused_input",
        &[&[2], &[2]],
        false,
        |c, _| c.opts.materialize_grads = true,
    );
    t.add(
        "materialize_grads with allow_unused=False",
        Grad,
        "unused_input",
        &[&[2], &[2]],
        true,
        |c, _| {
            c.opts.materialize_grads = true;
            c.opts.allow_unused = Some(false);
        },
    );
    t.add("no inputs", Grad, "quartic", &[&[2]], true, |c, _| {
        c.wrt = vec![]
    });
    t.add("no outputs", Grad, "quartic", &[&[2]], true, |c, _| {
        c.grad_of = vec![]
    });
    t.add(
        "no outputs, allow_unused",
        Grad,
        "quartic",
        &[&[2]],
        false,
        |c, _| {
            c.grad_of = vec![];
            c.opts.allow_unused = Some(true);
        },
    );
    let batched = |c: &mut Case| c.opts.is_grads_batched = true;
    t.add(
        "batched: wrong shape",
        Grad,
        "elementwise",
        &[&[3]],
        true,
        |c, rng| {
            batched(c);
            go(&[Some(&[4, 2, 5])])(c, rng);
        },
    );
    t.add(
        "batched: 0-dim grad_output",
        Grad,
        "quartic",
        &[&[3]],
        true,
        |c, rng| {
            batched(c);
            go(&[Some(&[])])(c, rng);
        },
    );
    t.add(
        "batched: empty batch",
        Grad,
        "elementwise",
        &[&[3]],
        true,
        |c, rng| {
            batched(c);
            go(&[Some(&[0, 3])])(c, rng);
        },
    );
    t.add(
        "batched: batch sizes differ",
        Grad,
        "two_outputs",
        &[&[2], &[2]],
        true,
        |c, rng| {
            batched(c);
            go(&[Some(&[2, 2]), Some(&[3])])(c, rng);
        },
    );
    t.add(
        "batched: implicit grad is 0-dim",
        Grad,
        "quartic",
        &[&[3]],
        true,
        |c, _| batched(c),
    );
    t.add(
        "batched: None for an output needing no grad",
        Grad,
        "constant",
        &[&[3]],
        true,
        |c, _| batched(c),
    );
    t.add(
        "batched: fewer grad_outputs",
        Grad,
        "two_outputs",
        &[&[2], &[2]],
        true,
        |c, rng| {
            batched(c);
            go(&[Some(&[4, 2])])(c, rng);
        },
    );
    t.add(
        "batched: no grad_outputs",
        Grad,
        "elementwise",
        &[&[2]],
        true,
        |c, rng| {
            batched(c);
            go(&[])(c, rng);
        },
    );
    t.add(
        "batched: no outputs",
        Grad,
        "quartic",
        &[&[2]],
        true,
        |c, _| {
            batched(c);
            c.grad_of = vec![];
            c.opts.allow_unused = Some(true);
        },
    );
    t.add(
        "batched: wrong shape at 1, ambiguous search",
        Grad,
        "two_outputs",
        &[&[2], &[2]],
        true,
        |c, rng| {
            batched(c);
            go(&[Some(&[3, 2]), Some(&[3, 1])])(c, rng);
        },
    );
    t.cases
}

#[test]
fn every_error_path_raises_pytorchs_message_and_kind() {
    let table = error_table();
    let cases: Vec<Case> = table.iter().map(|(c, _)| c.clone()).collect();
    let outcomes = compare_with_python(&cases);
    // The table means what it says: each case fails (or passes) in PyTorch as labelled.
    let mislabelled: Vec<String> = table
        .iter()
        .zip(&outcomes)
        .filter(|((_, raises), o)| *raises != o.is_err())
        .map(|((c, raises), o)| format!("{} (labelled raises={raises}): {o:?}", c.describe()))
        .collect();
    assert!(
        mislabelled.is_empty(),
        "mislabelled:\n{}",
        mislabelled.join("\n")
    );
    let errors = outcomes.iter().filter(|o| o.is_err()).count();
    assert!(errors >= 70, "only {errors} error cases");
}

#[test]
fn embedded_jvp_decompositions_are_the_graphs_pytorch_registers() {
    // The generator prints the whole file from live PyTorch (and checks that each graph
    // parses back into PyTorch's own); the checked-in file must be exactly that.
    let printed = common::run_python("scripts/gen_jvp_decompositions.py", &[]);
    let embedded =
        std::fs::read_to_string(common::root().join("src/autograd/jvp_decompositions.rs"))
            .expect("src/autograd/jvp_decompositions.rs");
    assert!(
        printed == embedded,
        "src/autograd/jvp_decompositions.rs is stale: regenerate it with scripts/gen_jvp_decompositions.py"
    );
}
