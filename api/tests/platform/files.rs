//! The stored image files (`/images/{id}/file`) and the dashboard at `/`.

use crate::common::{TestApp, config_for, prepared_dir};
use crate::images::{self, RED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_file_is_served_as_stored() {
    let app = TestApp::start().await;
    let bytes = images::png(RED);
    let id = app.upload_ok("red.png", bytes.clone(), None).await;

    let response = app.get(&format!("/images/{id}/file")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let unknown = app
        .get("/images/00000000-0000-4000-8000-000000000000/file")
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(app.get("/images/not-a-uuid/file").await.status(), 400);

    // A row whose object is gone (purged, lost) is a 404, not a server error.
    app.wait_done(&id).await;
    for file in app.object_files() {
        std::fs::remove_file(file).unwrap();
    }
    assert_eq!(app.get(&format!("/images/{id}/file")).await.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_at_the_root_with_its_routes() {
    let dir = prepared_dir();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<html>dashboard</html>").unwrap();
    std::fs::write(dist.join("assets/app.js"), "console.log(1)").unwrap();
    let mut config = config_for(dir.path());
    config.frontend_dir = Some(dist);
    let app = TestApp::start_with(dir, config).await;

    let root = app.get("/").await;
    assert_eq!(root.status(), 200);
    assert_eq!(root.text().await.unwrap(), "<html>dashboard</html>");
    let asset = app.get("/assets/app.js").await;
    assert_eq!(asset.status(), 200);
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    // Any other path is a page of the dashboard's own.
    assert_eq!(
        app.get("/history").await.text().await.unwrap(),
        "<html>dashboard</html>"
    );
    // The API routes still win.
    assert_eq!(app.get("/ready").await.status(), 200);
    let health = app
        .query("{ health { ready } }", serde_json::json!({}))
        .await;
    assert_eq!(health["health"]["ready"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_dashboard_the_root_says_how_to_build_it() {
    let app = TestApp::start().await;
    let root = app.get("/").await;
    assert_eq!(root.status(), 200);
    assert!(root.text().await.unwrap().contains("npm run build"));
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    app.stop().await;
}
