//! Directories left in /dev/shm by killed test runs are removed when the next harness starts.
//! (Its own binary: the harness must not have started yet when the test begins.)

use std::path::Path;

#[test]
fn stale_cluster_dirs_of_dead_runs_are_removed() {
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm").to_path_buf()
    } else {
        std::env::temp_dir()
    };
    // A pid above the kernel's pid_max is never alive.
    let dead = base.join("pgbase-test-4194305-deadbeef");
    std::fs::create_dir_all(dead.join("pgdata")).unwrap();
    std::fs::write(dead.join("pgdata/postmaster.pid"), "4194306\n").unwrap();
    let live = base.join(format!("pgbase-test-{}-stillmine", std::process::id()));
    std::fs::create_dir_all(&live).unwrap();

    let cluster = pgbase_testkit::cluster();

    assert!(!dead.exists(), "the dead run's directory was removed");
    assert!(live.exists(), "a directory whose owner lives is left alone");
    assert!(cluster.dir().exists());
    std::fs::remove_dir_all(&live).unwrap();
}
