//! Who a connection belongs to, on its page: the vendor's external id, tags, the customer's
//! Concur admin and the owning account, and (for editors) the form that changes them.

use leptos::prelude::*;

use super::calls::UpdateBelonging;
use crate::components::{FieldError, FormAlert};
use console_model::BelongingView;

/// The card; `editable` adds the form, whose action the page made (so a refusal carried back
/// in the page's address reaches it).
#[component]
pub fn Belonging(
    id: String,
    view: BelongingView,
    editable: bool,
    update: ServerAction<UpdateBelonging>,
) -> impl IntoView {
    let error = Signal::derive(move || update.value().get().and_then(Result::err));
    let none = || view! { <span class="hint">"not set"</span> }.into_any();
    let chips = view
        .tags
        .iter()
        .map(|(k, v)| view! { <li class="tag">{format!("{k}={v}")}</li> })
        .collect_view();
    let contact = match (&view.contact_name, &view.contact_email) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (None, Some(email)) => email.clone(),
        _ => String::new(),
    };
    view! {
        <section class="card belonging">
            <h2>"Who it belongs to"</h2>
            <dl>
                <dt>"External ID"</dt>
                <dd class="mono" data-field="shown-external-id">{view.external_id.clone().map_or_else(none, |e| e.into_any())}</dd>
                <dt>"Tags"</dt>
                <dd data-field="shown-tags">{if view.tags.is_empty() { none() } else { view! { <ul class="tags">{chips}</ul> }.into_any() }}</dd>
                <dt>"Contact"</dt>
                <dd data-field="shown-contact">{if contact.is_empty() { none() } else { contact.into_any() }}</dd>
                <dt>"Owner"</dt>
                <dd data-field="shown-owner">{view.owner.clone().map_or_else(none, |o| o.into_any())}</dd>
            </dl>
            {editable.then(|| view! {
                <ActionForm action=update>
                    <FormAlert error=error/>
                    <input type="hidden" name="id" value=id/>
                    <BelongingFields view=view.clone() error/>
                    <button type="submit">"Save"</button>
                </ActionForm>
            })}
        </section>
    }
}

/// The five fields of who a connection belongs to, filled with `view`, each with `error`'s
/// refusal when given: the connection page's form, the New hand-off link form, and the New
/// connection form (whose fields stand outside the form, name it as theirs with `form`, are
/// named inside `within`, `form[external_id]`, and whose island shows their refusals).
#[component]
pub fn BelongingFields(
    view: BelongingView,
    #[prop(optional)] error: Option<Signal<Option<crate::error::AppError>>>,
    #[prop(optional)] within: &'static str,
    #[prop(optional)] form: &'static str,
) -> impl IntoView {
    let form = (!form.is_empty()).then_some(form);
    let name = move |field: &str| {
        if within.is_empty() {
            field.to_owned()
        } else {
            format!("{within}[{field}]")
        }
    };
    let error = error.unwrap_or_else(|| Signal::derive(|| None));
    let tags_text: String = view
        .tags
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    view! {
        <div class="field">
            <label for="external_id">"External ID"</label>
            <input id="external_id" form=form name=name("external_id") value=view.external_id.clone().unwrap_or_default() autocomplete="off" spellcheck="false"/>
            <p class="hint">"Your own id for this customer, such as its tenant id: letters, digits and . _ : -, unique."</p>
            <FieldError error=error field="external_id"/>
        </div>
        <div class="field">
            <label for="tags">"Tags"</label>
            <textarea id="tags" form=form name=name("tags") rows="3" placeholder="env=prod">{tags_text}</textarea>
            <p class="hint">"One key=value per line, such as env=prod or region=emea; at most 20."</p>
            <FieldError error=error field="tags"/>
        </div>
        <div class="field">
            <label for="contact_name">"Contact name"</label>
            <input id="contact_name" form=form name=name("contact_name") value=view.contact_name.clone().unwrap_or_default() autocomplete="off"/>
            <FieldError error=error field="contact_name"/>
        </div>
        <div class="field">
            <label for="contact_email">"Contact e-mail"</label>
            <input id="contact_email" form=form name=name("contact_email") type="email" value=view.contact_email.clone().unwrap_or_default() autocomplete="off"/>
            <p class="hint">"The customer's Concur admin: hand-off and renewal mails go to this address."</p>
            <FieldError error=error field="contact_email"/>
        </div>
        <div class="field">
            <label for="owner">"Owner"</label>
            <input id="owner" form=form name=name("owner") value=view.owner.clone().unwrap_or_default() autocomplete="off"/>
            <p class="hint">"The user name of the console account responsible for this connection."</p>
            <FieldError error=error field="owner"/>
        </div>
    }
}
