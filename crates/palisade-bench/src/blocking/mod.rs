pub fn bench(_: &crate::Args) -> Result<bool, String> {
    Err("todo".into())
}
