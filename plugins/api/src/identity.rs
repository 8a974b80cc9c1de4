//! dm's names for what it runs, built in this one place: the YARN tags every attempt of a
//! component carries, the supervisor's id of its job, and the default job name. YARN
//! lower-cases tags; application and component names only hold `a-z A-Z 0-9 . _ -`, so a tag
//! never contains the comma that separates tags.

/// Every YARN application dm submits carries this tag (one RM call lists them all).
pub const DM_TAG: &str = "dm";
pub const APP_TAG_PREFIX: &str = "dm-app-";
pub const COMPONENT_TAG_PREFIX: &str = "dm-component-";

/// `dm-app-<application>`.
pub fn app_tag(application: &str) -> String {
    format!("{APP_TAG_PREFIX}{}", application.to_lowercase())
}

/// `dm-component-<type>-<component>`: unique within an application.
pub fn component_tag(component_type: &str, component: &str) -> String {
    format!(
        "{COMPONENT_TAG_PREFIX}{}-{}",
        component_type.to_lowercase(),
        component.to_lowercase()
    )
}

/// The tags of every attempt of a component (the supervisor adds one per attempt).
pub fn yarn_tags(application: &str, component_type: &str, component: &str) -> Vec<String> {
    vec![
        DM_TAG.to_string(),
        app_tag(application),
        component_tag(component_type, component),
    ]
}

/// The supervisor's id of a component's job: `<application>/<type>/<component>`.
pub fn job_id(application: &str, component_type: &str, component: &str) -> String {
    format!("{application}/{component_type}/{component}")
}

/// PNDA's `component_job_name` when a package sets none: `<application>-<component>-job`.
pub fn default_job_name(application: &str, component: &str) -> String {
    format!("{application}-{component}-job")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_yarn_and_pnda_see_them() {
        assert_eq!(
            yarn_tags("Clicks", "sparkStreaming", "Totals"),
            ["dm", "dm-app-clicks", "dm-component-sparkstreaming-totals"]
        );
        assert_eq!(job_id("clicks", "flink", "counter"), "clicks/flink/counter");
        assert_eq!(default_job_name("clicks", "counter"), "clicks-counter-job");
    }
}
