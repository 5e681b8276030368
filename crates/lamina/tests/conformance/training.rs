//! `training` cases: a model, a loss, an optimizer (with an optional
//! scheduler and clipping) trained for a few steps; losses and final
//! parameters compared with PyTorch's.

use crate::function::call;
use crate::module::prepare;
use crate::optim::{apply_clip, build_optimizer, build_scheduler, Sched};
use crate::support::{check, check_scalar, in_f64_and_f32, val_as, Outcome, Tol, Val};
use lamina::layers::ModuleExt;
use lamina::prelude::*;
use serde_json::Value;

/// Runs a `training` case in f64, and again in f32 where the case allows it.
pub fn run(case: &Value) -> Outcome {
    in_f64_and_f32(case, run_as::<f64>, run_as::<f32>)
}

fn run_as<E: Element>(case: &Value) -> Outcome {
    let tol = Tol::for_element::<E>(case);
    let mut model_case = case["model"].clone();
    model_case["mode"] = case["mode"].clone();
    let model = prepare::<E>(&model_case)?;
    let named = model.named_parameters();
    let order: Vec<String> = case["model"]["param_order"]
        .as_array()
        .ok_or("model without param_order")?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or("param_order entries should be names"))
        .collect::<Result<_, _>>()?;
    let params: Vec<Tensor<E>> = order
        .iter()
        .map(|n| named.iter().find(|(m, _)| m == n).map(|(_, p)| p.clone()).ok_or_else(|| format!("no parameter {n}")))
        .collect::<Result<_, String>>()?;
    let o = &case["optimizer"];
    let mut opt = build_optimizer(
        o["optimizer"].as_str().ok_or("optimizer without name")?,
        o["config"].as_object().ok_or("optimizer without config")?,
        o["param_groups"].as_array().ok_or("optimizer without param_groups")?,
        &params,
        &order,
    )?;
    let mut sched = match case.get("scheduler").filter(|s| !s.is_null()) {
        Some(s) => {
            Some(build_scheduler(s["scheduler"].as_str().ok_or("scheduler without name")?, &s["config"], &mut *opt)?)
        }
        None => None,
    };
    let loss_name = case["loss"]["function"].as_str().ok_or("loss without function")?;
    let inputs = case["inputs"].as_array().ok_or("case without inputs")?;
    let targets = case["targets"].as_array().ok_or("case without targets")?;
    let losses = case["losses"].as_array().ok_or("case without losses")?;
    for (step, ((x, t), want)) in inputs.iter().zip(targets).zip(losses).enumerate() {
        opt.zero_grad();
        let out = match <[Tensor<E>; 1]>::try_from(model.apply(&[Some(val_as::<E>(x)?)])?) {
            Ok([y]) => y,
            Err(ys) => return Err(format!("the model gives {} outputs, training needs one", ys.len())),
        };
        let loss = call(loss_name, &[Val::F(out), val_as::<E>(t)?], &case["loss"]["config"], &Value::Null)?;
        let loss = loss[0].float()?.clone();
        check_scalar(&format!("loss at step {step}"), loss.item().f64(), want, tol)?;
        loss.backward();
        if let Some(clip) = case.get("clip").filter(|c| !c.is_null()) {
            apply_clip(clip["function"].as_str().ok_or("clip without function")?, &clip["config"], &params)?;
        }
        opt.step();
        match &mut sched {
            Some(Sched::Plain(s)) => s.step(&mut *opt),
            Some(Sched::Plateau(_)) => return Err("ReduceLROnPlateau needs a metric per step".into()),
            None => {}
        }
    }
    for (name, p) in &named {
        let want = case["params_after"].get(name).ok_or_else(|| format!("no params_after for {name}"))?;
        check(&format!("{name} after training"), p, want, tol)?;
    }
    for (name, b) in model.named_buffers() {
        if let Some(want) = case["buffers_after"].get(&name) {
            check(&format!("buffer {name} after training"), &b, want, tol)?;
        }
    }
    Ok(())
}
