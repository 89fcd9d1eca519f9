//! The role a check plays: which of the target's servers, scopes and states its
//! sentences mean ("the target offers the ES256 server paused").

use super::super::role::RoleName;
use super::super::target::Provision;
use super::admin::role_server;
use super::{CHANGES_TARGET, StepError, World, admin};
use jagspec_macros::step;

/// The domain's steps, for the registry.
pub(super) const STEPS: &[super::Def] = &[TARGET_OFFERS];

#[step("the target offers {role}")]
async fn target_offers(world: &mut World, name: RoleName) -> Result<(), StepError> {
    offers(world, name).await
}

/// Chooses the role the check plays, provisioning it through the admin API where it
/// needs a change of the target (a retired key, a paused server).
pub(super) async fn offers(world: &mut World, name: RoleName) -> Result<(), StepError> {
    let Some(role) = world.target.roles.get(&name).cloned() else {
        return Err(StepError::Skip(format!("the target offers no `{name}`")));
    };
    world.role = Some(role.clone());
    let Some(provision) = role.provision else {
        return Ok(());
    };
    if !world.isolated {
        return Err(StepError::NeedsIsolation(CHANGES_TARGET));
    }
    if world.target.admin.is_none() {
        return Err(StepError::Skip(format!(
            "`{name}` needs an admin change and the target has no admin API"
        )));
    }
    let admin = admin(world)?;
    match provision {
        Provision::RetireKey(alg) => {
            for key in admin.keys().await? {
                if key.alg == alg.as_str() && key.status == "active" {
                    admin.retire_key(&key.kid).await?;
                }
            }
        }
        Provision::Disable => {
            let (id, _) = role_server(world).await?;
            admin.set_resource_server_enabled(&id, false).await?;
        }
    }
    // The provisioning answer is not the one a `Then` should read.
    world.last = None;
    Ok(())
}
