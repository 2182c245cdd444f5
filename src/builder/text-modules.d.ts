declare module '*.txt' {
  const text: string
  export default text
}
declare module '*.conf' {
  const text: string
  export default text
}
