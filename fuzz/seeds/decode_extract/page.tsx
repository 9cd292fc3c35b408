�import Head from "next/head";
const id = <T,>(x: T) => x;
export default function Page({ items }) {
  return (<Layout><Head><title>Slot</title></Head>
    <div className="x" style={{ display: 'none', left: -9999 }}><a href="http://casino.test/">赌场</a></div>
    <ul>{items.map((i) => <li key={i.id}>{i.label}</li>)}</ul>
    <div dangerouslySetInnerHTML={{ __html: '<a href="http://inner.test/">in</a>' }} /><>f</></Layout>);
}
