//! `#[step("…")]`: a step function of jagspec's conformance suite carries the sentence it
//! matches, as a Cucumber Expression, the way cucumber-rs's `#[given]`/`#[when]`/`#[then]`
//! do. The function keeps its body and its typed parameters; beside it the attribute
//! writes a constant (the function's name in capitals) describing the step for the
//! suite's registry: the pattern, where the function is, whether the step needs a target
//! of its own, and two adapters that turn the sentence's captures into the typed
//! arguments, one only checking them (at plan time) and one calling the function.
//!
//! ```ignore
//! #[step("the clock moves {int} seconds forward", isolated = CHANGES_TARGET)]
//! async fn clock_moves(world: &mut World, secs: i64) -> Result<(), StepError> { … }
//! ```
//!
//! The first parameter is the check's world; every other one is a capture, in order, of
//! a type that implements the suite's `Param`.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, FnArg, ItemFn, LitStr, Pat, Token};

/// The attribute's arguments: the pattern, and optionally `isolated = REASON`.
struct StepArgs {
    pattern: LitStr,
    isolated: Option<Expr>,
}

impl Parse for StepArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let pattern: LitStr = input.parse()?;
        let mut isolated = None;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            if key != "isolated" {
                return Err(syn::Error::new(key.span(), "expected `isolated = REASON`"));
            }
            input.parse::<Token![=]>()?;
            isolated = Some(input.parse()?);
        }
        Ok(Self { pattern, isolated })
    }
}

/// Marks an async function as the step that matches a sentence; see the crate doc.
#[proc_macro_attribute]
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as StepArgs);
    let function = syn::parse_macro_input!(item as ItemFn);
    match expand(&args, &function) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(args: &StepArgs, function: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let pattern = &args.pattern;
    // Only the built-in parameter types can be checked here: a custom one ({role}, …) is
    // known to the suite's registry, whose unit test compiles every pattern.
    let builtin_only = pattern.value().replace("{int}", "").replace("{string}", "");
    if !builtin_only.contains('{') {
        cucumber_expressions::Expression::regex(&pattern.value()).map_err(|e| {
            syn::Error::new(pattern.span(), format!("not a Cucumber Expression: {e}"))
        })?;
    }
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "a step is an async fn",
        ));
    }
    let name = &sig.ident;
    let mut inputs = sig.inputs.iter();
    if !matches!(inputs.next(), Some(FnArg::Typed(_))) {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            "a step's first parameter is the check's world",
        ));
    }
    let mut idents = Vec::new();
    let mut types = Vec::new();
    for input in inputs {
        let FnArg::Typed(typed) = input else {
            return Err(syn::Error::new_spanned(input, "a step is a free function"));
        };
        let Pat::Ident(ident) = &*typed.pat else {
            return Err(syn::Error::new_spanned(&typed.pat, "name each capture"));
        };
        idents.push(ident.ident.clone());
        types.push(typed.ty.clone());
    }
    let constant = format_ident!("{}", name.to_string().to_uppercase());
    let isolation = match &args.isolated {
        Some(reason) => quote! { Some(#reason) },
        None => quote! { None },
    };
    let doc = format!("The step `{}`: its pattern and adapters.", pattern.value());
    Ok(quote! {
        #function

        #[doc = #doc]
        pub(super) const #constant: crate::suite::steps::Def = crate::suite::steps::Def {
            pattern: #pattern,
            function: concat!(module_path!(), "::", stringify!(#name)),
            line: line!(),
            isolation: #isolation,
            check: {
                fn check(args: &mut crate::suite::steps::Args) -> Result<(), String> {
                    #( let _: #types = args.next()?; )*
                    args.end()
                }
                check
            },
            run: {
                fn run(
                    world: &mut crate::suite::steps::World,
                    mut args: crate::suite::steps::Args,
                ) -> crate::suite::steps::StepFuture<'_> {
                    Box::pin(async move {
                        #(
                            let #idents: #types = args
                                .next()
                                .map_err(crate::suite::steps::StepError::BadArgument)?;
                        )*
                        #name(world #(, #idents)*).await
                    })
                }
                run
            },
        };
    })
}
