//! `dynarock mappings`: what each event source mapping is doing, for a person: state, last
//! result, checkpoint, iterator age, invocations, errors, records processed and sent to the
//! on-failure destination.

use crate::config::MappingsArgs;

pub fn run(args: &MappingsArgs) -> Result<(), String> {
    let endpoint = super::Endpoint::new(&args.server.at.endpoint, &args.server.region);
    let status = endpoint.rest(
        "GET",
        "/dynarock/mappings",
        "lambda",
        &serde_json::Value::Null,
    )?;
    let mappings = status["Mappings"].as_array().cloned().unwrap_or_default();
    if mappings.is_empty() {
        println!("no event source mappings in {}", args.server.region);
        return Ok(());
    }
    for m in mappings {
        let stats = &m["Stats"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
        println!("{}  {}", text(&m["UUID"]), text(&m["State"]));
        println!(
            "  {} -> {}",
            text(&m["EventSourceArn"]),
            text(&m["FunctionArn"])
        );
        println!(
            "  last result: {} ({})",
            text(&m["LastProcessingResult"]),
            text(&m["StateTransitionReason"])
        );
        println!(
            "  checkpoint: shard {} at {}, last processed {}, iterator age {} ms",
            m["Checkpoint"]["Shard"],
            text(&m["Checkpoint"]["NextSequenceNumber"]),
            text(&stats["LastSequenceNumber"]),
            stats["IteratorAgeMilliseconds"]
        );
        println!(
            "  invocations {}, function errors {}, records processed {}, sent to the on-failure destination {}",
            stats["Invocations"], stats["FunctionErrors"], stats["RecordsProcessed"], stats["RecordsToDestination"]
        );
    }
    Ok(())
}
