//! `process.ioPriority`: the process's I/O scheduling class and level,
//! set with ioprio_set(2) before the capabilities are dropped (the
//! realtime class needs CAP_SYS_ADMIN or CAP_SYS_NICE).

use oci_spec::runtime::{IOPriorityClass, LinuxIOPriority, Process};

#[derive(Debug, thiserror::Error)]
pub enum IoPriorityError {
    #[error("process.ioPriority.priority: {0} is out of range (0-7)")]
    Range(i64),
    #[error("process.ioPriority: ioprio_set({class}, {level}): {source}")]
    Set {
        class: IOPriorityClass,
        level: i64,
        #[source]
        source: std::io::Error,
    },
}

/// The kernel's IOPRIO_CLASS_* number of a class.
fn class_number(class: IOPriorityClass) -> u32 {
    match class {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    }
}

/// Levels go from 0 (highest) to 7, as the kernel's IOPRIO_NR_LEVELS.
fn level(prio: &LinuxIOPriority) -> Result<u32, IoPriorityError> {
    u32::try_from(prio.priority())
        .ok()
        .filter(|l| *l <= 7)
        .ok_or(IoPriorityError::Range(prio.priority()))
}

/// Validation: the level is in range (an unknown class is refused when
/// config.json is parsed).
pub fn check(prio: &LinuxIOPriority) -> Result<(), IoPriorityError> {
    level(prio).map(drop)
}

/// Sets `process.ioPriority`, if any, on the calling process.
pub fn apply(process: &Process) -> Result<(), IoPriorityError> {
    let Some(prio) = process.io_priority() else {
        return Ok(());
    };
    crate::sys::ioprio_set(class_number(prio.class()), level(prio)?).map_err(|source| {
        IoPriorityError::Set {
            class: prio.class(),
            level: prio.priority(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIOPriorityBuilder;

    fn prio(class: IOPriorityClass, priority: i64) -> LinuxIOPriority {
        LinuxIOPriorityBuilder::default()
            .class(class)
            .priority(priority)
            .build()
            .unwrap()
    }

    #[test]
    fn levels_are_0_to_7() {
        assert!(check(&prio(IOPriorityClass::IoprioClassBe, 0)).is_ok());
        assert!(check(&prio(IOPriorityClass::IoprioClassRt, 7)).is_ok());
        for bad in [-1, 8, 1 << 13] {
            let err = check(&prio(IOPriorityClass::IoprioClassIdle, bad)).unwrap_err();
            assert!(
                err.to_string().contains("process.ioPriority.priority"),
                "{err}"
            );
        }
        assert_eq!(class_number(IOPriorityClass::IoprioClassIdle), 3);
    }
}
