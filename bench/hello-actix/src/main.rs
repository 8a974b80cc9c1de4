//! `hello-actix ADDR`: answers every GET with a fixed JSON body the size of a dmd status, on
//! as many workers as dmd's default, so bench/status compares dmd with actix-web itself.

use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5099".into());
    HttpServer::new(|| {
        App::new().default_service(web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(r#"{"status": "CREATED", "information": null}"#)
        }))
    })
    .workers(2)
    .bind(addr)?
    .run()
    .await
}
